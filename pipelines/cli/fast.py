"""``footfall sync`` with nothing to do, answered before typer, rich or Prefect is imported.

An unchanged re-sync is Python's start, one ``stat`` per source and one query: parsing the
command line with typer (which builds a pydantic adapter per option) and importing rich cost more
than that (issue 17: an unchanged re-sync of 1,800 files in <= 0.5 s). ``main`` hands a plain
``sync PATH... [--db DB] [--athlete ID] [--workers N] [--json]`` to ``sync_nothing_to_do`` first;
it plans once (``pipelines.syncplan.plan_sources``) and

- when every source is unchanged and the models are current, prints the summary (the same JSON
  or table as the typer path) and says so (True);
- in every other case (work to do, nothing found, an unknown option, ``--help``, a config error,
  a database another process holds, an athlete footfall must choose or explain) prints nothing
  and returns False: the sync command runs as before, and takes over the plan made here when
  its settings are the same (``pipelines.startup.take_plan``), so a sync still plans once.

With work to do, ``main`` runs the sync command's function itself on the options read here
(``run_sync``: typer does not parse the line a second time); any other line goes through the
typer app.
"""

from __future__ import annotations

from pathlib import Path

_OPTIONS = {"--db", "--athlete", "--workers"}


def parse(args: list[str]) -> dict | None:
    """``PATH... --db X --athlete Y --workers N --json`` (also ``--opt=value``) as a dict; None for
    anything else (typer parses it and says what is wrong)."""
    out: dict = {"paths": [], "db": None, "athlete": None, "workers": None, "json": False}
    it = iter(args)
    for a in it:
        if a == "--json":
            out["json"] = True
        elif a.split("=", 1)[0] in _OPTIONS:
            name, eq, value = a.partition("=")
            if not eq:
                value = next(it, None)
                if value is None or value.startswith("-"):
                    return None
            out[name[2:]] = value
        elif a.startswith("-") and a != "-":
            return None  # --help, --always-run, --no-json, a typo: typer's
        else:
            out["paths"].append(a)
    if not out["paths"]:
        return None
    if out["workers"] is not None:
        try:
            out["workers"] = int(out["workers"])
        except ValueError:
            return None
    return out


def sync_nothing_to_do(args: list[str], started: float) -> bool:
    """Print the summary of a sync with nothing to do and return True; else False (see above).
    ``started``: ``time.perf_counter()`` at the process's start (the summary's wall time)."""
    opts = parse(args)
    if opts is None:
        return False
    try:
        done = _nothing_to_do(opts, started)
    except Exception:  # noqa: BLE001 - the typer path meets the same failure and explains it
        return False
    if done is None:
        return False
    out, db = done
    if opts["json"]:
        import json

        print(json.dumps(out, default=str, indent=2))
    else:
        from pipelines.cli.sync import print_summary

        print_summary(out, db)
    return True


def _nothing_to_do(opts: dict, started: float) -> tuple[dict, Path] | None:
    """(the summary, the database) when there is nothing to do; None otherwise."""
    import time

    from pipelines import db as dbm
    from pipelines import startup as state
    from pipelines.config import ConfigError, load_settings

    try:
        s = load_settings().with_overrides(db=Path(opts["db"]) if opts["db"] else None,
                                           workers=opts["workers"])
    except ConfigError:
        return None
    try:
        with dbm.wait_budget(0.0):  # no waiting here: a held file is the typer path's (its notices)
            s = _athlete(s, opts["athlete"])
            if s is None:
                return None
            from pipelines.syncplan import plan_sources

            # the paths as typer hands them to the command (Path objects: "runs/" is "runs")
            planned = plan_sources([str(Path(p)) for p in opts["paths"]], s)
    except (dbm.DatabaseBusy, dbm.DatabaseError, OSError):
        return None
    if not planned.nothing_to_do:
        state.put_plan(planned.paths, s, planned)
        return None
    from pipelines.snapshot import publish_missing

    publish_missing(s.db, s)  # a database from before the analysts' snapshot: publish it once
    summary = planned.summary()
    summary.seconds = round(planned.seconds, 3)
    out = summary.to_dict()
    out["wall_seconds"] = time.perf_counter() - started
    return out, s.db


def _athlete(s, athlete: str | None):
    """The settings with the athlete chosen as ``settings_with_athlete(mode="sync")`` chooses it;
    None when the rule needs to say something (a note or an error: the typer path prints it)."""
    if athlete or (s.athlete if s.athlete_from else None):
        return s.with_overrides(athlete=athlete)
    from pipelines.athletes import AthleteError, choose_athlete, database_athletes

    known = database_athletes(s.db, s.lock_wait_s)
    try:
        chosen, note = choose_athlete(known, None, None, mode="sync", db=str(s.db),
                                      config_from=s.athlete_from, empty_default=s.athlete)
    except AthleteError:
        return None
    return None if note else s.with_overrides(athlete=chosen)


def run_sync(opts: dict) -> None:
    """``footfall sync`` with work to do, from the options ``parse`` read: the typer command's
    own function (``pipelines.cli.sync.sync``), called without typer parsing the line again
    (~0.2 s of typer building a pydantic adapter per option). Its ``typer.Exit`` (``fail``)
    becomes the same exit code."""
    import typer

    from pipelines.cli.sync import sync

    try:
        sync(paths=[Path(p) for p in opts["paths"]], db=Path(opts["db"]) if opts["db"] else None,
             athlete=opts["athlete"], workers=opts["workers"], as_json=opts["json"], always_run=False)
    except typer.Exit as stop:
        if stop.exit_code:
            raise SystemExit(stop.exit_code) from None
