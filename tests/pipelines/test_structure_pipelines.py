"""No import cycle among the ``pipelines`` modules: the graph of their imports (read with ``ast``,
imports inside functions included: they are dependencies too) is acyclic.

An edge goes from a module to each ``pipelines`` module it imports (``from pipelines.cli import
common`` is an edge to ``pipelines.cli.common``; ``from pipelines.db import connection`` to
``pipelines.db``). A package's ``__init__`` importing its own submodules is the package's table of
contents, and a submodule's import of a sibling does not count as an import of the package.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for p in sorted((ROOT / package).rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph(package: str = "pipelines") -> dict[str, set[str]]:
    mods = _modules(package)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    base = ".".join(parts + ([base] if base else []))
                for a in node.names:
                    full = f"{base}.{a.name}"
                    if full in mods:
                        deps.add(full)
                    elif base in mods:
                        deps.add(base)
        deps.discard(name)
        graph[name] = deps
    return graph


def test_the_graph_is_read():
    g = import_graph()
    assert "pipelines.db" in g["pipelines.sync"]
    assert "pipelines.cli.common" in g["pipelines.cli.journal"]
    assert "pipelines.prefect_api" in g["pipelines.flows"]


def test_no_import_cycle_among_pipelines_modules():
    try:
        order = list(TopologicalSorter(import_graph()).static_order())
    except CycleError as err:
        raise AssertionError(f"import cycle: {' -> '.join(err.args[1])}") from None
    assert "pipelines.cli" in order


def test_the_cli_and_the_flow_import_in_one_direction():
    g = import_graph()
    assert "pipelines.flows" not in g["pipelines.prefect_api"]
    assert "pipelines.serve" not in g["pipelines.flows"]
    assert not any(m.startswith("pipelines.cli") for m in g["pipelines.cli.common"])
    # sync.py stays free of Prefect: the CLI plans with it before deciding to start a flow run
    src = (ROOT / "pipelines" / "sync.py").read_text()
    assert "prefect" not in {a.name.split(".")[0] for n in ast.walk(ast.parse(src))
                             if isinstance(n, (ast.Import, ast.ImportFrom))
                             for a in ([ast.alias(n.module or "")] if isinstance(n, ast.ImportFrom) else n.names)}
