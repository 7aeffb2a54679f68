"""One settings object: where the database is, whose data it is, and the user's overrides.

Precedence: command-line flag > environment (``FOOTFALL_*``) > config file > defaults.
The config file is ``$FOOTFALL_CONFIG``, else ``./footfall.toml``, else
``~/.config/footfall/config.toml``::

    db = "footfall.duckdb"
    athlete = "ana"
    timezone = "Europe/Madrid"        # local dates for files that carry no offset (GPX, TCX)
    max_xml_bytes = 268435456         # size budgets (bytes): see ingest/discover.py

    [thresholds]                      # any name from models/thresholds.py
    weekly_ramp_pct = 25

    [athletes.ana]                    # for TRIMP
    hr_rest_bpm = 52
    hr_max_bpm = 188
    sex = "female"

    [privacy]
    share_health_with_prefect = false # true: flag messages and pain scores in Prefect artifacts

    [analysts]                        # the read-only copy analysts open (pipelines/snapshot.py)
    snapshot = true                   # false: publish none
    snapshot_path = "footfall.snapshot.duckdb"  # default: <db stem>.snapshot.duckdb beside db
    [cluster]
    address = "tcp://10.0.0.5:8786"   # decode on this Dask cluster (pipelines/cluster.py)
    [team]                            # db = "ducklake:postgres:dbname=footfall host=... user=..."
    data_path = "/shared/footfall-lake/"  # the lake's data files (needed when the first sync creates it)

Thresholds themselves live only in ``models/thresholds.py``; this file carries overrides.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from ingest import discover as d
from models.thresholds import THRESHOLDS

DEFAULT_DB = "footfall.duckdb"
DEFAULT_ATHLETE = "default"


@dataclass(frozen=True)
class AthleteSettings:
    hr_rest_bpm: float | None = None
    hr_max_bpm: float | None = None
    sex: str | None = None


#: config keys of the per-source size budgets (ingest.discover.Limits), integers
LIMIT_KEYS = ("max_member_bytes", "max_fit_bytes", "max_xml_bytes", "max_archive_bytes",
              "max_depth", "max_archive_members", "max_archive_read_bytes")
#: every integer key of the config file's top level
INT_KEYS = ("workers", "batch_files", *LIMIT_KEYS, "max_batch_bytes", "max_sync_bytes")


@dataclass(frozen=True)
class Settings:
    db: Path = Path(DEFAULT_DB)
    athlete: str = DEFAULT_ATHLETE
    athlete_from: str | None = None  # where ``athlete`` was set (config file, FOOTFALL_ATHLETE); None = not set
    timezone: str | None = None  # IANA name; None = UTC for files without an offset
    thresholds: dict[str, float] = field(default_factory=dict)
    athletes: dict[str, AthleteSettings] = field(default_factory=dict)
    workers: int = 0  # decode processes; 0 = one per core
    lock_wait_s: float = 60.0  # how long a sync waits for another process to release the file
    batch_files: int = 60  # files per transaction; one batch lands while the next decodes (~75 MB of frames each at 1 Hz)
    # size budgets (memory and time guards; defaults and meanings in ingest/discover.py)
    max_member_bytes: int = d.DEFAULT_MAX_MEMBER_BYTES
    max_fit_bytes: int = d.DEFAULT_MAX_FIT_BYTES
    max_xml_bytes: int = d.DEFAULT_MAX_XML_BYTES
    max_archive_bytes: int = d.DEFAULT_MAX_ARCHIVE_BYTES
    max_depth: int = d.DEFAULT_MAX_DEPTH
    max_archive_members: int = d.DEFAULT_MAX_ARCHIVE_MEMBERS
    max_archive_read_bytes: int = d.DEFAULT_MAX_ARCHIVE_READ_BYTES
    max_batch_bytes: int = d.DEFAULT_MAX_BATCH_BYTES
    max_sync_bytes: int = d.DEFAULT_MAX_SYNC_BYTES
    config_path: Path | None = None
    share_health_with_prefect: bool = False  # pain scores and flag messages in Prefect artifacts
    snapshot: bool = True  # publish the analysts' read-only snapshot after each write (pipelines/snapshot.py)
    snapshot_path: Path | None = None  # None: <db stem>.snapshot.duckdb beside the database
    cluster: str | None = None  # Dask scheduler address (tcp://HOST:PORT); None = local processes
    data_path: str | None = None  # team mode: the lake's data files ([team] data_path, FOOTFALL_DATA_PATH)

    def __post_init__(self):
        # team mode: ``db`` names a DuckLake (pipelines/lake.py) and carries its data path
        if str(self.db).startswith("ducklake:"):
            from pipelines.lake import LakeError, as_target

            try:
                object.__setattr__(self, "db", as_target(str(self.db), self.data_path))
            except LakeError as err:
                raise ConfigError(str(err)) from err

    def with_overrides(self, **kw) -> Settings:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    def read_limits(self) -> d.Limits:
        """The per-source budgets, for ``ingest.discover.iter_source``."""
        return d.Limits(**{k: getattr(self, k) for k in LIMIT_KEYS})

    def athlete_settings(self, athlete: str | None = None) -> AthleteSettings:
        return self.athletes.get(athlete or self.athlete, AthleteSettings())


class ConfigError(ValueError):
    """The config file or an environment variable is invalid."""


def _config_file() -> Path | None:
    env = os.environ.get("FOOTFALL_CONFIG")
    if env:
        return Path(env)
    for p in (Path("footfall.toml"), Path.home() / ".config" / "footfall" / "config.toml"):
        if p.is_file():
            return p
    return None


def load_settings(path: Path | None = None) -> Settings:
    """Defaults, then the config file, then ``FOOTFALL_*`` environment variables."""
    s = Settings()
    cfg_path = path or _config_file()
    if cfg_path is not None:
        if not cfg_path.is_file():
            raise ConfigError(f"config file not found: {cfg_path}")
        try:
            data = tomllib.loads(cfg_path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{cfg_path}: {err}") from err
        s = _apply_file(s, data, cfg_path)
    env = os.environ
    if env.get("FOOTFALL_DATA_PATH"):
        s = replace(s, data_path=env["FOOTFALL_DATA_PATH"])
    if env.get("FOOTFALL_DB"):
        s = replace(s, db=Path(env["FOOTFALL_DB"]))
    if env.get("FOOTFALL_ATHLETE"):
        s = replace(s, athlete=env["FOOTFALL_ATHLETE"], athlete_from="FOOTFALL_ATHLETE")
    if env.get("FOOTFALL_TIMEZONE"):
        s = replace(s, timezone=env["FOOTFALL_TIMEZONE"])
    if env.get("FOOTFALL_WORKERS"):
        s = replace(s, workers=int(env["FOOTFALL_WORKERS"]))
    if env.get("FOOTFALL_CLUSTER"):
        s = replace(s, cluster=env["FOOTFALL_CLUSTER"])
    if env.get("FOOTFALL_LOCK_WAIT_S"):
        s = replace(s, lock_wait_s=float(env["FOOTFALL_LOCK_WAIT_S"]))
    _check_timezone(s.timezone)
    return s


def _apply_file(s: Settings, data: dict, path: Path) -> Settings:
    kw: dict = {"config_path": path}
    if "db" in data:
        kw["db"] = Path(data["db"])
    for key in ("athlete", "timezone"):
        if key in data:
            kw[key] = str(data[key])
    if "athlete" in data:
        kw["athlete_from"] = str(path)
    for key in INT_KEYS:
        if key in data:
            try:
                kw[key] = int(data[key])
            except (TypeError, ValueError) as err:
                raise ConfigError(f"{path}: {key} must be an integer, got {data[key]!r}") from err
    if "lock_wait_s" in data:
        kw["lock_wait_s"] = float(data["lock_wait_s"])
    th = data.get("thresholds", {})
    unknown = sorted(set(th) - set(THRESHOLDS))
    if unknown:
        raise ConfigError(f"{path}: unknown thresholds {unknown}; known: {sorted(THRESHOLDS)}")
    kw["thresholds"] = {k: float(v) for k, v in th.items()}
    athletes = {}
    for name, a in data.get("athletes", {}).items():
        athletes[name] = AthleteSettings(
            hr_rest_bpm=a.get("hr_rest_bpm"), hr_max_bpm=a.get("hr_max_bpm"), sex=a.get("sex")
        )
    kw["athletes"] = athletes
    privacy = data.get("privacy", {})
    share = privacy.get("share_health_with_prefect", False) if isinstance(privacy, dict) else None
    if not isinstance(share, bool):
        raise ConfigError(f"{path}: [privacy] share_health_with_prefect must be true or false")
    kw["share_health_with_prefect"] = share
    analysts = data.get("analysts", {})
    if not isinstance(analysts, dict) or not isinstance(analysts.get("snapshot", True), bool):
        raise ConfigError(f"{path}: [analysts] snapshot must be true or false")
    kw["snapshot"] = analysts.get("snapshot", True)
    if "snapshot_path" in analysts:
        kw["snapshot_path"] = Path(str(analysts["snapshot_path"]))
    cluster = data.get("cluster", {})
    address = cluster.get("address") if isinstance(cluster, dict) else None
    if address is not None and not isinstance(address, str) or not isinstance(cluster, dict):
        raise ConfigError(f'{path}: [cluster] address must be a Dask scheduler address, e.g. "tcp://HOST:8786"')
    if address:
        kw["cluster"] = address
    team = data.get("team", {})
    if isinstance(team, dict) and team.get("data_path"):
        kw["data_path"] = str(team["data_path"])
    return replace(s, **kw)


def _check_timezone(tz: str | None) -> None:
    if tz is None:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(f"unknown time zone {tz!r} (use an IANA name like 'Europe/Madrid')") from err
