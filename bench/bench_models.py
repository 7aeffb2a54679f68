"""Benchmark: the SQL models over many athletes x years of synthetic daily training.

    python bench/bench_models.py [--athletes 100] [--years 5] [--db PATH]

Writes synthetic activities (runs most days, some double days, some rides) straight into the raw
tables of a fresh DuckDB file, then times ``run_models`` (every model, one transaction) and
``run_data_tests``, and prints the rows of each model.

Baseline, measured in the same run on the same data: plain per-athlete Python loops computing
what the two heaviest marts compute -- each run's longest run in the previous 30 days with its
spike ratio and band (session_spikes), and per day the coupled, uncoupled and EWMA ratios of
distance, duration and steps (acwr_daily) -- timed against the same two marts re-run alone in
DuckDB; the two are checked to agree value by value.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import bisect
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines import db  # noqa: E402
from pipelines.sqlmodels import (  # noqa: E402
    _set_variables,
    discover_models,
    run_data_tests,
    run_models,
    threshold_values,
)

FIRST_DAY = date(2020, 1, 6)


def synthetic_activities(n_athletes: int, years: float, seed: int = 7) -> pl.DataFrame:
    """Activities of ``n_athletes`` over ``years``: a run on most days, some doubles and rides."""
    rng = np.random.default_rng(seed)
    n_days = int(round(365.25 * years))
    frames = []
    for a in range(n_athletes):
        p_run = rng.uniform(0.45, 0.9)
        base_m = rng.uniform(5_000, 12_000)
        offset_s = int(rng.choice([-5 * 3600, 0, 3600, 2 * 3600, 10 * 3600]))
        day = np.arange(n_days)
        has_run = rng.random(n_days) < p_run
        double = has_run & (rng.random(n_days) < 0.05)
        ride = rng.random(n_days) < 0.08
        long_run = (day % 7 == 6) * rng.uniform(1.3, 2.2, n_days)
        dist = base_m * rng.lognormal(0, 0.25, n_days) * np.where(long_run > 0, long_run, 1.0)
        dist2 = base_m * 0.5 * rng.lognormal(0, 0.2, n_days)
        hour = rng.uniform(5, 19, n_days)
        parts = []
        for mask, d, h, sport in (
            (has_run, dist, hour, "running"),
            (double, dist2, hour + 4.5, "running"),
            (ride, base_m * 3 * rng.lognormal(0, 0.3, n_days), hour + 2, "cycling"),
        ):
            idx = np.nonzero(mask)[0]
            parts.append(pl.DataFrame({
                "day": idx.astype(np.int64),
                "hour_s": (h[idx] * 3600).astype(np.int64),
                "distance_m": np.round(d[idx], 1),
                "sport": [sport] * len(idx),
            }))
        df = pl.concat(parts)
        frames.append(df.with_columns(
            pl.lit(f"athlete-{a:03d}").alias("athlete_id"),
            pl.lit(offset_s, dtype=pl.Int32).alias("local_offset_s"),
        ))
    df = pl.concat(frames)
    start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day)
    df = df.with_columns(
        (pl.lit(start) + pl.duration(days=pl.col("day"), seconds=pl.col("hour_s"))
         - pl.duration(seconds=pl.col("local_offset_s"))).cast(pl.Datetime("us")).alias("started_at"),
    ).with_row_index("n")
    pace = pl.when(pl.col("sport") == "running").then(0.33).otherwise(0.12)
    return df.with_columns(
        pl.format("{}-{}", pl.col("athlete_id"), pl.col("n")).alias("activity_id"),
        (pl.col("started_at") + pl.duration(seconds=pl.col("local_offset_s"))).dt.date().alias("local_date"),
        (pl.col("distance_m") * pace).alias("moving_time_s"),
        (pl.col("sport") == "running").alias("is_run"),
    ).with_columns(
        pl.when(pl.col("is_run")).then(pl.col("moving_time_s") / 60 * 170).alias("steps"),
    ).drop("n", "day", "hour_s")


def land(con, acts: pl.DataFrame) -> None:
    activities = acts.select(
        "athlete_id", "activity_id", "sport", "started_at", "local_offset_s", "local_date",
        "distance_m", pl.col("moving_time_s").alias("timer_time_s"),
        pl.col("moving_time_s").alias("elapsed_time_s"),
    )
    metrics = acts.select(
        "activity_id", "athlete_id", "sport", "is_run", "started_at", "local_date", "distance_m",
        "moving_time_s", pl.col("moving_time_s").alias("elapsed_time_s"), "steps",
    )
    for table, frame in (("activities", activities), ("activity_metrics", metrics)):
        con.register("_bench", frame.to_arrow())
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _bench")
        con.unregister("_bench")


def python_baseline(acts: pl.DataFrame, today: date, v: dict[str, float]):
    """Plain per-athlete Python loops computing what session_spikes and acwr_daily compute.

    Spikes: each run's longest run with a distance started in [start - 30 d, start), its ratio and
    band. ACWR: for running distance, all-sport duration and run steps, per calendar day: acute
    and chronic (coupled, uncoupled) loads, EWMA acute/chronic, and the three ratios (NULL before
    the chronic window is full or when the chronic load is 0).
    """
    lookback = timedelta(days=int(v["spike_lookback_days"]))
    acute, chronic = int(v["acwr_acute_days"]), int(v["acwr_chronic_days"])
    k = chronic // acute
    lam_a, lam_c = 2.0 / (acute + 1), 2.0 / (chronic + 1)
    spikes: dict[str, tuple] = {}
    acwr: dict[tuple[str, date], dict[str, float | None]] = {}
    for (athlete,), g in acts.sort("started_at").group_by(["athlete_id"], maintain_order=True):
        runs = g.filter(pl.col("is_run"))
        starts = runs["started_at"].to_list()
        dists = runs["distance_m"].to_list()
        for i, (s, aid) in enumerate(zip(starts, runs["activity_id"].to_list())):
            best = None
            for j in range(bisect.bisect_left(starts, s - lookback), i):
                if starts[j] < s and dists[j] and (best is None or dists[j] > best):
                    best = dists[j]
            ratio = round(dists[i] / best - 1, 9) if best and dists[i] else None
            if not dists[i]:
                band = "no_distance"
            elif best is None:
                band = "no_baseline"
            elif ratio <= v["spike_caution_ratio"]:
                band = "reference"
            elif ratio <= v["spike_warning_ratio"]:
                band = "small"
            elif ratio <= v["spike_alert_ratio"]:
                band = "moderate"
            else:
                band = "large"
            spikes[aid] = (best, ratio, band)
        first = g["local_date"].min()
        n = (max(g["local_date"].max(), today) - first).days + 1
        series = {"distance": [0.0] * n, "duration": [0.0] * n, "steps": [0.0] * n}
        for d, run, dist, mt, st in g.select(
            "local_date", "is_run", "distance_m", "moving_time_s", "steps"
        ).iter_rows():
            i = (d - first).days
            series["duration"][i] += mt or 0.0
            if run:
                series["distance"][i] += dist or 0.0
                series["steps"][i] += st or 0.0
        days = [first + timedelta(days=i) for i in range(n)]
        out = [dict() for _ in range(n)]
        for unit, xs in series.items():
            e_a = e_c = xs[0]
            for i in range(n):
                if i:
                    e_a = lam_a * xs[i] + (1 - lam_a) * e_a
                    e_c = lam_c * xs[i] + (1 - lam_c) * e_c
                a = sum(xs[max(0, i - acute + 1): i + 1])
                full = i + 1 >= chronic
                c_all = sum(xs[i - chronic + 1: i + 1]) if full else None
                c_prior = sum(xs[i - chronic + 1: i - acute + 1]) if full else None
                r = out[i]
                r[f"{unit}_ewma_acute"], r[f"{unit}_ewma_chronic"] = e_a, e_c
                r[f"acwr_coupled_{unit}"] = a / (c_all / k) if full and c_all > 0 else None
                r[f"acwr_uncoupled_{unit}"] = a / (c_prior / (k - 1)) if full and c_prior > 0 else None
                r[f"acwr_ewma_{unit}"] = e_a / e_c if full and e_c > 0 else None
        for d, r in zip(days, out):
            acwr[(athlete, d)] = r
    return spikes, acwr


def _differs(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(a - b) > rel * max(1.0, abs(a), abs(b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--athletes", type=int, default=100)
    ap.add_argument("--years", type=float, default=5)
    ap.add_argument("--db", type=Path, default=None, help="DuckDB file (default: a temp file)")
    args = ap.parse_args()

    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="footfall-bench-")
        args.db = Path(tmp.name) / "bench.duckdb"
    t0 = time.perf_counter()
    acts = synthetic_activities(args.athletes, args.years)
    today = acts["local_date"].max()
    con = db.connect(args.db)
    db.migrate(con)
    land(con, acts)
    n_runs = int(acts["is_run"].sum())
    print(f"synthetic: {args.athletes} athletes x {args.years:g} years: {acts.height:,} activities "
          f"({n_runs:,} runs), landed in {time.perf_counter() - t0:.2f} s -> {args.db}")

    t = time.perf_counter()
    built = run_models(con, today=today)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    tests = run_data_tests(con)
    t_tests = time.perf_counter() - t
    t = time.perf_counter()
    run_models(con, today=today)
    t_rebuild = time.perf_counter() - t
    print(f"run_models: {t_build:.2f} s (first build), {t_rebuild:.2f} s (rebuild); "
          f"run_data_tests: {t_tests:.2f} s, failures: {sum(1 for v in tests.values() if v)}")
    for name in built:
        n = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        print(f"  {name:<22} {n:>10,} rows")
    flags = con.sql("SELECT rule, severity, count(*) AS n FROM flags GROUP BY ALL ORDER BY ALL").fetchall()
    print("  flags: " + ", ".join(f"{r}/{s} {n:,}" for r, s, n in flags))

    # --- like for like: the two heavy marts alone in DuckDB vs Python loops computing the same
    values = threshold_values()
    _set_variables(con, {**values, "today": today})
    marts = {m.name: m for m in discover_models()}
    t = time.perf_counter()
    for name in ("session_spikes", "acwr_daily"):
        con.execute(marts[name].sql)
    t_sql = time.perf_counter() - t
    t = time.perf_counter()
    py_spikes, py_acwr = python_baseline(acts, today, values)
    t_py = time.perf_counter() - t

    sql_spikes = {
        r[0]: r[1:] for r in con.execute(
            "SELECT activity_id, baseline_distance_m, spike_ratio, band FROM session_spikes"
        ).fetchall()
    }
    spike_diff = sum(
        1 for aid, (b, r, band) in py_spikes.items()
        if aid not in sql_spikes or _differs(b, sql_spikes[aid][0]) or _differs(r, sql_spikes[aid][1])
        or band != sql_spikes[aid][2]
    )
    cols = [c for c in next(iter(py_acwr.values()))]
    sql_cols = [c.replace("distance_ewma_acute", "distance_ewma_acute_m")
                 .replace("distance_ewma_chronic", "distance_ewma_chronic_m")
                 .replace("duration_ewma_acute", "duration_ewma_acute_s")
                 .replace("duration_ewma_chronic", "duration_ewma_chronic_s") for c in cols]
    acwr_diff = 0
    for row in con.execute(
        f"SELECT athlete_id, local_date, {', '.join(sql_cols)} FROM acwr_daily"
    ).fetchall():
        mine = py_acwr[(row[0], row[1])]
        acwr_diff += sum(_differs(mine[c], x) for c, x in zip(cols, row[2:]))
    print(f"same outputs, two ways: DuckDB session_spikes + acwr_daily {t_sql:.2f} s; "
          f"per-athlete Python loops {t_py:.2f} s; Python / DuckDB = {t_py / t_sql:.1f}x")
    print(f"agreement: {len(py_spikes):,} runs (baseline, ratio, band): {spike_diff} differ; "
          f"{len(py_acwr):,} days x {len(cols)} ACWR columns: {acwr_diff} differ (tolerance 1e-9 relative)")
    con.close()
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
