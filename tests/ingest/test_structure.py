"""The shape of the code: which project module imports which (read with ``ast``, nothing run).

Every ``import`` counts, the ones inside functions too: a lazy import that closes a loop is
still a loop a reader has to untangle (issue 12).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ingest", "models", "pipelines", "synth")


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the project's packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (``from pkg import mod`` resolved to ``pkg.mod``)."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()

    def add(dotted: str) -> None:
        # the deepest project module the dotted name points into
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            cand = ".".join(parts[:i])
            if cand in modules:
                found.add(cand)
                return

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for alias in node.names:
                if f"{mod}.{alias.name}" in modules:
                    found.add(f"{mod}.{alias.name}")
                else:
                    add(mod)
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]], within: str) -> list[list[str]]:
    """One cycle per strongly connected component (more than one module) under ``within``."""
    nodes = [n for n in graph if n == within or n.startswith(within + ".")]
    sub = {n: sorted(m for m in graph[n] if m in nodes) for n in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sub[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for n in sorted(sub):
        if n not in index:
            visit(n)
    return out


def test_the_graph_sees_known_edges():
    """The reader of imports works: edges we know exist are found (lazy ones included)."""
    g = _graph()
    assert "ingest.schema" in g["ingest.fit"]  # from ingest import schema
    assert "ingest.fit_messages" in g["ingest.fit_columnar"]  # from ingest.fit_messages import (...)
    assert "ingest.fit" in g["ingest.decode"]  # lazy, inside decode_bytes
    assert "ingest.decode" in g["ingest.discover"]  # lazy, inside a function
    assert _cycles({"x.a": {"x.b"}, "x.b": {"x.c"}, "x.c": {"x.a"}, "x.d": {"x.a"}}, "x") == [
        ["x.a", "x.b", "x.c"]]
    assert _cycles({"x.a": {"x.b"}, "x.b": {"x.a"}, "x.c": {"x.a"}}, "x") == [["x.a", "x.b"]]


def test_no_import_cycles_in_ingest():
    assert _cycles(_graph(), "ingest") == []


def test_fit_readers_are_peers():
    """The fast reader knows nothing of the reference reader or of the meaning layer; the
    contract module imports neither reader; only ``ingest.fit`` picks a reader."""
    g = _graph()
    assert not g["ingest.fit_columnar"] & {"ingest.fit", "ingest.fit_fitparse", "ingest.decode"}
    assert not g["ingest.fit_fitparse"] & {"ingest.fit", "ingest.fit_columnar", "ingest.decode"}
    assert not g["ingest.fit_messages"] & {"ingest.fit", "ingest.fit_columnar",
                                            "ingest.fit_fitparse", "ingest.decode"}
    assert {"ingest.fit_columnar", "ingest.fit_fitparse"} <= g["ingest.fit"]
    readers = {n for n, deps in g.items() if {"ingest.fit_columnar", "ingest.fit_fitparse"} & deps}
    assert readers == {"ingest.fit"}


def test_one_fit_crc():
    """One FIT CRC implementation: the CRC-16/ARC polynomial appears in one module only."""
    hits = sorted(str(p.relative_to(ROOT)) for pkg in PACKAGES + ("bench",)
                  for p in (ROOT / pkg).rglob("*.py") if "0xA001" in p.read_text())
    assert hits == ["ingest/fit_messages.py"]


def _ingest_reaches_up() -> dict[str, set[str]]:
    g = _graph()
    return {n: {m for m in deps if m.split(".")[0] in ("models", "pipelines")}
            for n, deps in g.items() if n.split(".")[0] == "ingest"
            and any(m.split(".")[0] in ("models", "pipelines") for m in deps)}


def test_ingest_imports_neither_models_nor_pipelines():
    up = _ingest_reaches_up()
    assert up == {}
