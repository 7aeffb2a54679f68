"""Shared fixtures: the corpus folder (skip with a reason when absent), the corpus manifest
(tests/corpus_manifest.tsv: which corpus files the tests rely on, by role) and temp paths."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent

#: The tests' "today": no test reads the clock (tests/test_no_clock.py). The command line's edge
#: (pipelines.clock.local_today) reads FOOTFALL_TODAY, set here for the session and inherited by
#: the subprocesses; functions below it take ``today`` (e.g. ``run_models(con, today=TODAY)``).
TODAY = date(2026, 6, 1)  # a Monday, after every date the fixtures write
os.environ["FOOTFALL_TODAY"] = TODAY.isoformat()


def corpus_path() -> Path:
    return Path(os.environ.get("FOOTFALL_CORPUS", PROJECT.parent / "shared" / "corpus"))


class Manifest:
    """tests/corpus_manifest.tsv: corpus paths (relative to the corpus) and their roles.

    Read at collection time, without the corpus, so that a test can be parametrised with one test
    id per corpus file: ``@pytest.mark.parametrize("corpus_file", MANIFEST.files("gpx"))``; the
    ``corpus_file`` value is the relative path, its test id the path too.
    """

    def __init__(self, path: Path):
        self.path = path
        self.roles: dict[str, tuple[str, ...]] = {}
        with open(path) as fh:
            lines = [ln.rstrip("\n") for ln in fh if ln.strip() and not ln.startswith("#")]
        assert lines[0].split("\t") == ["path", "roles"], f"{path}: bad header {lines[0]!r}"
        for ln in lines[1:]:
            rel, roles = ln.split("\t")
            assert rel not in self.roles, f"{path}: {rel} listed twice"
            self.roles[rel] = tuple(roles.split())

    def files(self, role: str) -> list[str]:
        out = sorted(rel for rel, roles in self.roles.items() if role in roles)
        assert out, f"{self.path}: no file has the role {role!r}"
        return out

    def one(self, role: str) -> str:
        (rel,) = self.files(role)
        return rel


MANIFEST = Manifest(Path(__file__).resolve().parent / "corpus_manifest.tsv")


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    p = corpus_path()
    if not (p / "CATALOG.tsv").is_file():
        pytest.skip(f"corpus not found at {p} (set FOOTFALL_CORPUS to the shared corpus folder)")
    return p


@pytest.fixture(scope="session")
def catalog(corpus_dir):
    """CATALOG.tsv rows as dicts, keyed by relative path."""
    import csv

    with open(corpus_dir / "CATALOG.tsv", newline="") as fh:
        return {row["path"]: row for row in csv.DictReader(fh, delimiter="\t")}


def corpus_member(decoded: dict, rel: str):
    """``decoded[rel]`` for a per-file corpus test; skips (with the path) when this corpus lacks it."""
    if rel not in decoded:
        pytest.skip(f"{rel} (in tests/corpus_manifest.tsv) is not in this corpus")
    return decoded[rel]


# Prefect keeps its state under PREFECT_HOME: give the test session its own, quiet and offline.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One Prefect test harness (a temporary server) for the whole session (~9 s to start)."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def user_cli_env(columns: int) -> dict[str, str]:
    """The environment of ``footfall`` run as a user runs it, in a subprocess reporting to the
    session's Prefect harness: Prefect's log levels not forced by the test session, no
    FOOTFALL_DEBUG, a fixed terminal width. Call inside a test that uses ``prefect_harness``."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_LOGGING_LEVEL", "PREFECT_INTERNAL_LOGGING_LEVEL",
                        "PREFECT_LOGGING_ROOT_LEVEL", "FOOTFALL_DEBUG")}
    env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    env["COLUMNS"] = str(columns)
    return env


@pytest.fixture()
def isolated_config(tmp_path, monkeypatch):
    """No user config file or FOOTFALL_* variables leak into a test."""
    for k in list(os.environ):
        if k.startswith("FOOTFALL_") and k not in ("FOOTFALL_CORPUS", "FOOTFALL_TODAY"):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("FOOTFALL_CONFIG", str(tmp_path / "footfall.toml"))
    (tmp_path / "footfall.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path
