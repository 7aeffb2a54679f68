"""``models.frames.put_columns`` is ``with_columns`` without a query plan: the same frame,
column order and dtypes included, whether a Series replaces a column or is added last."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from models.frames import put_columns

DF = pl.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"], "c": [0.5, None, 1.5]})


@pytest.mark.parametrize("series", [
    [pl.Series("b", ["p", "q", None])],                                   # replaced in place
    [pl.Series("d", [True, None, False])],                                # added last
    [pl.Series("e", [1, 2, 3], dtype=pl.Int8), pl.Series("a", [9, 8, 7])],  # both, in that order
    [pl.Series("c", [None, None, None], dtype=pl.Float64)],
    [],
])
def test_the_same_frame_as_with_columns(series):
    out = put_columns(DF, series)
    assert_frame_equal(out, DF.with_columns(series))
    assert out.columns == DF.with_columns(series).columns
    assert DF.columns == ["a", "b", "c"] and DF["b"].to_list() == ["x", None, "z"]  # not changed


def test_what_it_cannot_do_in_place_goes_to_polars():
    short = [pl.Series("d", [1])]  # another length: polars refuses it, as with_columns does
    with pytest.raises(pl.exceptions.InvalidOperationError):
        DF.with_columns(short)
    with pytest.raises(pl.exceptions.InvalidOperationError):
        put_columns(DF, short)
    with pytest.raises(pl.exceptions.PolarsError):  # the same name twice: polars refuses it
        put_columns(DF, [pl.Series("d", [1, 2, 3]), pl.Series("d", [4, 5, 6])])
