"""Small frame helpers for models/ (pure polars)."""

from __future__ import annotations

import polars as pl


def put_columns(df: pl.DataFrame, series: list[pl.Series]) -> pl.DataFrame:
    """``df.with_columns(series)`` for Series of the frame's length, without a query plan (a plan
    over a frame this wide costs more than the work): a Series replaces the column of its name in
    place, or is added last; the names must differ (else, as for a Series of another length,
    polars decides)."""
    if not series:
        return df
    index = {c: i for i, c in enumerate(df.columns)}
    if any(x.len() != df.height for x in series) or len({x.name for x in series}) != len(series):
        return df.with_columns(series)
    out = df.clone()  # shares the column buffers; replace_column works on the copy
    new = []
    for x in series:
        if x.name in index:
            out.replace_column(index[x.name], x)
        else:
            new.append(x)
    return out.hstack(new) if new else out
