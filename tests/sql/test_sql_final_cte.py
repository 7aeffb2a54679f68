"""Every SQL model ends dbt style: its last CTE is ``final`` and the statement is
``select * from final`` (then, for a table, the ``order by`` its rows are stored in)."""

from __future__ import annotations

import re

import pytest

from pipelines.sqlmodels import discover_models

#: issue 12 item 4 converts these (the runner's-log models are being rewritten in parallel)

MODELS = discover_models()
CTE = re.compile(r"^(?:with\s+)?(\w+) as \(", re.MULTILINE)
TAIL = re.compile(r"\)\s*select \* from final\s*(?:order by [\w\s,]+)?;?\s*\Z")


def _code(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0].rstrip() for line in sql.splitlines()).strip()


def test_every_layer_has_models():
    assert {m.layer for m in MODELS} == {"10_staging", "20_intermediate", "30_marts"}


@pytest.mark.parametrize("model", MODELS, ids=[m.name for m in MODELS])
def test_model_ends_with_select_star_from_final(model):
    code = _code(model.sql)
    ctes = CTE.findall(code)
    assert ctes and ctes[-1] == "final", f"{model.path.name}: last CTE is {ctes[-1:]}, not final"
    assert ctes.count("final") == 1, f"{model.path.name}: more than one CTE named final"
    assert TAIL.search(code), f"{model.path.name} does not end with `select * from final`"
