"""Small frame helpers for models/ (pure polars)."""

from __future__ import annotations

import polars as pl


def put_columns(df: pl.DataFrame, series: list[pl.Series]) -> pl.DataFrame:
    """``df.with_columns(series)`` for Series replacing columns of the same length, without a
    query plan (a plan over a frame this wide costs more than the work)."""
    if not series:
        return df
    index = {c: i for i, c in enumerate(df.columns)}
    if any(x.name not in index or x.len() != df.height for x in series):
        return df.with_columns(series)
    out = df.clone()  # shares the column buffers; replace_column works on the copy
    for x in series:
        out.replace_column(index[x.name], x)
    return out
