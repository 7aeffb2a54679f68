"""``footfall report``: one self-contained HTML page of charts, from the marts, read-only.

What the page holds (each chart a Vega-Lite spec built with Altair, drawn as SVG by vega-embed):

* weekly running distance (bars, km) and steps (line), each week labelled with its change over
  the week before (``weekly_load.distance_change_pct``); weeks above ``weekly_ramp_pct`` coloured;
* daily acute:chronic ratios of running distance (``acwr_daily``: the rolling uncoupled ratio the
  flags use, and the EWMA ratio) over the ``acwr_sweet_low``-``acwr_sweet_high`` band (labelled a
  team-sport convention, Gabbett 2016, not a safe zone) with a line at ``acwr_caution``;
* each run against the longest run of the previous ``spike_lookback_days`` days
  (``session_spikes``), with lines at the spike thresholds;
* cadence (steps/min) and ground contact time (ms) per run (``activity_metrics``), with a rolling
  mean of five runs;
* the run-walk progression per week (``weekly_progression``): running vs walking minutes, the
  longest continuous running bout, and running-only cadence against the previous 4 weeks' mean;
* when the athlete has a return-to-run plan (``footfall plan``): planned vs actual running
  minutes and longest bout per plan week (``plan_vs_actual``);
* pain scores (0-10) over daily running distance (``int_pain_entries``) when pain was logged, and
  each shoe's distance (``shoe_mileage``) when shoes exist; otherwise a short note saying how to
  start logging;
* the flags of the period as a table (date, severity, rule, message, value against threshold,
  source), with the fixed bone-stress safety note (``models.notes.BONE_STRESS_NOTE``) and the last
  return after a break (``daily_load.last_return_date``) with the weeks since it;
* a header with the athlete, the period and its totals.

The period ends on the athlete's last day with data, the later of the last activity and the last
pain or RPE entry (``data_end``), not on today where the marts' calendar ends: the report of an
older archive shows its last weeks, not empty weeks up to today. ``--weeks N`` counts N weeks
back from the week of that day.

Every threshold drawn is read from the ``thresholds`` table of the last build (the values of
``models/thresholds.py`` with the user's overrides), or from ``models/thresholds.py`` itself when
the database has no such table; none is written here.

No network when the page is opened: the Vega, Vega-Lite and vega-embed JavaScript (the bundle
shipped in the ``vl-convert-python`` wheel, the one ``altair``'s ``save(..., inline=True)`` uses) is
inlined once in the page, and every chart's data is in the page. The database is opened read-only
and no Prefect is imported.
"""

from __future__ import annotations

import functools
import html
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from models.notes import BONE_STRESS_NOTE
from models.thresholds import THRESHOLDS, value as threshold_default
from pipelines.db import tables

#: Weeks shown when ``--weeks`` is not given (0 = the athlete's whole history).
DEFAULT_WEEKS = 26
CHART_WIDTH = 820
#: Runs in the rolling mean drawn over cadence and ground contact time.
ROLLING_RUNS = 5

SEVERITY_COLOURS = {"info": "#4c78a8", "caution": "#e0a800", "warning": "#f58518", "alert": "#d62728"}
BAND_COLOURS = {  # session_spikes.band
    "reference": "#9ab0c4",
    "small": SEVERITY_COLOURS["caution"],
    "moderate": SEVERITY_COLOURS["warning"],
    "large": SEVERITY_COLOURS["alert"],
}
MOMENT_COLOURS = {
    "before": "#72b7b2", "during": "#d62728", "after": "#f58518",
    "evening": "#b279a2", "next_morning": "#4c78a8",
}
BLUE, GREY, GREEN, RED = "#4c78a8", "#c9ced6", "#54a24b", "#d62728"


class ReportError(RuntimeError):
    """There is nothing to report (no database, no models, unknown athlete); the message says why.

    ``exit_code``: 2 when the command line must change (which athlete), else 1."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Section:
    """One block of the page: a chart (a Vega-Lite spec) or, when there is no data, a note."""

    key: str  # chart-<key> is the id of its container
    title: str
    intro: str
    spec: dict | None = None
    note: str | None = None


@dataclass
class Report:
    athlete_id: str
    start: date
    end: date
    weeks: int
    totals: dict[str, Any]
    sections: list[Section]
    flags: list[dict]
    athletes: list[str]
    built_at: datetime | None = None
    last_sync_at: datetime | None = None
    #: the marts' last day (today, or the last activity if later); ``end`` is before it when the
    #: athlete has no activity or journal entry since (an older archive)
    calendar_end: date | None = None
    #: activities of the period the runner spoke about or footfall did not count as running load
    #: (int_activity_status), and how many more there are than the table shows
    not_counted: list[dict] = field(default_factory=list)
    not_counted_more: int = 0
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None))

    @property
    def charts(self) -> list[Section]:
        return [s for s in self.sections if s.spec is not None]

    @property
    def notes(self) -> list[Section]:
        return [s for s in self.sections if s.spec is None]


# --------------------------------------------------------------------------- reading the marts


def list_athletes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Athletes with a calendar in ``daily_load`` (i.e. with at least one activity), sorted."""
    if "daily_load" not in tables(con):
        return []
    return [r[0] for r in con.execute(
        "SELECT DISTINCT athlete_id FROM daily_load ORDER BY athlete_id").fetchall()]


def resolve_athlete(athletes: list[str], requested: str | None, configured: str | None) -> str:
    """The athlete to report on, by footfall's one rule (``pipelines/athletes.py``): ``requested``
    (``--athlete``), else ``configured`` (the config's; None when it names none), else the only
    athlete with activities; otherwise ``ReportError`` listing them (exit 2)."""
    from pipelines.athletes import AthleteError, choose_athlete

    listed = ", ".join(athletes)
    if not athletes:
        raise ReportError("the database has no activities yet: run `footfall sync PATH` first")
    if requested and requested not in athletes:
        raise ReportError(f"athlete {requested!r} has no activities in this database; athletes: {listed}", 2)
    try:
        return choose_athlete(dict.fromkeys(athletes, None), requested, configured, db="this database")[0]
    except AthleteError as err:
        raise ReportError(str(err), err.exit_code) from err


def _thresholds(con: duckdb.DuckDBPyConnection, rels: set[str]) -> dict[str, float]:
    values = {name: threshold_default(name) for name in THRESHOLDS}
    if "thresholds" in rels:
        values.update({n: float(v) for n, v in con.execute("SELECT name, value FROM thresholds").fetchall()})
    return values


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple:
    """The first row (fetchall: a half-read result would block the connection in DuckDB 2)."""
    return con.execute(sql, params or []).fetchall()[0]


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


#: Journal tables whose dated entries can end the report's window (``data_end``).
JOURNAL_DATED = ("pain_log", "rpe_log")


def data_end(con, athlete: str, rels: set[str] | None = None) -> date | None:
    """The athlete's last day with data: the later of the last activity (any sport) and the last
    dated journal entry (pain, RPE). The marts' calendar runs on to today; an older archive's
    report ends here instead, so its weeks are not the empty ones up to today."""
    rels = tables(con) if rels is None else rels
    parts = ["SELECT max(local_date) AS d FROM daily_load WHERE athlete_id = $a AND n_activities > 0"]
    parts += [f"SELECT max(local_date) FROM {t} WHERE athlete_id = $a" for t in JOURNAL_DATED if t in rels]
    return con.execute(f"SELECT max(d) FROM ({' UNION ALL '.join(parts)})", {"a": athlete}).fetchall()[0][0]


def _window(con, athlete: str, weeks: int) -> tuple[date, date, date]:
    """(first day shown, last day shown, the athlete's first day): the window ends on the
    athlete's last day with data (``data_end``), never after the calendar's last day."""
    first, cal_last = _one(con, "SELECT min(local_date), max(local_date) FROM daily_load WHERE athlete_id = ?",
                           [athlete])
    last = min(data_end(con, athlete) or cal_last, cal_last)
    if weeks and weeks > 0:
        start = max(first, _monday(last) - timedelta(days=7 * (weeks - 1)))
    else:
        start = first
    return start, last, first


# --------------------------------------------------------------------------- JSON for the page


def _js_date(d: date | datetime | None) -> str | None:
    """Dates as local-midnight ISO strings: Vega parses them in the viewer's time zone, so a run
    on the 5th shows on the 5th wherever the page is opened (a bare '2026-01-05' would be UTC)."""
    if d is None:
        return None
    if isinstance(d, datetime):
        return d.isoformat(timespec="seconds")
    return d.isoformat() + "T00:00:00"


def _clean(v: Any) -> Any:
    if isinstance(v, float):
        return None if (math.isnan(v) or math.isinf(v)) else round(v, 6)
    if isinstance(v, (datetime, date)):
        return _js_date(v)
    return v


def _rows(df: pl.DataFrame) -> list[dict]:
    return [{k: _clean(v) for k, v in r.items()} for r in df.to_dicts()]


def date_axis(weeks: int) -> dict:
    """An x axis of days: a tick a week (every few weeks / months for long periods), no label
    touching the next."""
    if weeks <= 16:
        ticks = {"interval": "week", "step": 1}
    elif weeks <= 40:
        ticks = {"interval": "week", "step": 2}
    else:
        ticks = {"interval": "month", "step": max(1, math.ceil(weeks / 52))}
    fmt = "%d %b" if weeks <= 40 else "%b %Y"
    return {"format": fmt, "tickCount": ticks, "labelOverlap": "greedy", "labelSeparation": 6,
            "labelAngle": 0}


def _fmt_pct(v: float | None) -> str | None:
    if v is None or math.isnan(v):
        return None
    return f"{v:+.0f}%"


def _num(v: float | None, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.{digits}f}"


# --------------------------------------------------------------------------- the charts


def _spec(chart, datasets: dict[str, list[dict]]) -> dict:
    """Validate the chart (its data are named, so validation does not walk the rows), then put
    the rows in the spec's top-level ``datasets``: the page needs nothing else."""
    spec = chart.to_dict()
    spec["datasets"] = {**spec.get("datasets", {}), **datasets}
    return spec


def _weekly_section(alt, weekly: pl.DataFrame, th: dict[str, float]) -> Section:
    ramp = th["weekly_ramp_pct"]
    intro = (
        "Running distance per week (bars, Monday to Sunday of your local calendar) and steps "
        "(line). The label over each bar is the change from the week before; weeks more than "
        f"{ramp:g}% above the week before are coloured ({THRESHOLDS['weekly_ramp_pct'].source}). "
        "The current week is the week so far."
    )
    if weekly.is_empty() or weekly["running_distance_m"].sum() == 0:
        return Section("weekly", "Weekly load", intro, note="No runs in this period.")
    over = f"more than {ramp:g}% over the week before"
    df = weekly.with_columns(
        # the label is the x category: with the year when the period is long enough to repeat one
        week=pl.col("week_start_date").dt.strftime("%d %b" if weekly.height <= 52 else "%d %b %Y"),
        distance_km=pl.col("running_distance_m") / 1000,
        steps_k=pl.col("steps") / 1000,
        ramp_label=pl.col("distance_change_pct").map_elements(_fmt_pct, return_dtype=pl.String).fill_null(""),
        status=pl.when(pl.col("distance_change_pct").round(9) > ramp).then(pl.lit(over))
        .when(~pl.col("is_complete_week")).then(pl.lit("week so far / partial week"))
        .otherwise(pl.lit("week")),
        longest_km=pl.col("longest_run_m") / 1000,
    )
    data = alt.Data(name="weekly")
    x = alt.X("week:N", sort=None, title="week starting (Monday)",
              axis=alt.Axis(labelAngle=-45, labelOverlap="greedy"))
    tooltip = [
        alt.Tooltip("week_start_date:T", title="week of", format="%a %d %b %Y"),
        alt.Tooltip("distance_km:Q", title="running km", format=".1f"),
        alt.Tooltip("ramp_label:N", title="vs week before"),
        alt.Tooltip("n_runs:Q", title="runs"),
        alt.Tooltip("longest_km:Q", title="longest run km", format=".1f"),
        alt.Tooltip("steps:Q", title="steps", format=",.0f"),
    ]
    domain = ["week", "week so far / partial week", over]
    bars = alt.Chart(data).mark_bar().encode(
        x=x,
        y=alt.Y("distance_km:Q", title="running distance (km)"),
        color=alt.Color("status:N", scale=alt.Scale(domain=domain, range=[BLUE, "#a7c0dc", SEVERITY_COLOURS["warning"]]),
                        legend=alt.Legend(title=None, orient="top", labelLimit=400)),
        tooltip=tooltip,
    )
    labels = alt.Chart(data).mark_text(dy=-7, fontSize=11, color="#333").encode(
        x=x, y=alt.Y("distance_km:Q"), text="ramp_label:N")
    steps = alt.Chart(data).mark_line(point=True, color="#333", strokeWidth=1.5).encode(
        x=x,
        y=alt.Y("steps_k:Q", title="steps (thousands, line)", axis=alt.Axis(orient="right")),
        tooltip=tooltip,
    )
    chart = alt.layer(alt.layer(bars, labels), steps).resolve_scale(y="independent").properties(
        width=CHART_WIDTH, height=260)
    return Section("weekly", "Weekly load", intro, spec=_spec(chart, {"weekly": _rows(df)}))


def _acwr_section(alt, acwr: pl.DataFrame, flags: pl.DataFrame, th: dict[str, float], weeks: int) -> Section:
    lo, hi, caution = th["acwr_sweet_low"], th["acwr_sweet_high"], th["acwr_caution"]
    acute, chronic = int(th["acwr_acute_days"]), int(th["acwr_chronic_days"])
    src = THRESHOLDS["acwr_caution"].source
    intro = (
        f"Running distance of the last {acute} days against your weekly average of the "
        f"{chronic - acute} days before (rolling, uncoupled: the ratio the flags use) and the "
        f"EWMA ratio ({acute} and {chronic} days). Shaded: {lo:g}-{hi:g}, a team-sport convention "
        f"(the 'sweet spot' of {src}), not a safe zone for runners; dashed line: {caution:g}, where a "
        f"flag is raised when your last {acute} days hold at least "
        f"{th.get('acwr_min_acute_m', threshold_default('acwr_min_acute_m')) / 1000:g} km and "
        f"{chronic} days of data exist (also after a return from a break). Descriptive numbers, "
        "not a risk score (Impellizzeri et al. 2020/2021)."
    )
    long = acwr.select(
        "local_date",
        pl.col("acwr_uncoupled_distance").alias("rolling (uncoupled)"),
        pl.col("acwr_ewma_distance").alias("EWMA"),
    ).unpivot(index="local_date", variable_name="ratio", value_name="value").drop_nulls("value")
    if long.is_empty():
        return Section("acwr", "Acute:chronic ratio", intro,
                       note=f"Not enough history yet: the ratios start after {chronic} days of calendar.")
    ymax = max(float(long["value"].max()), caution) * 1.1
    data = alt.Data(name="acwr")
    x = alt.X("local_date:T", title=None, axis=date_axis(weeks))
    band = alt.Chart(alt.Data(values=[{"lo": lo, "hi": hi}])).mark_rect(color=GREEN, opacity=0.15).encode(
        y=alt.Y("lo:Q", scale=alt.Scale(domain=[0, ymax])), y2="hi:Q")
    band_label = alt.Chart(alt.Data(values=[{"y": hi, "t": f"{lo:g}-{hi:g}: team-sport convention ({src}), not a safe zone"}])).mark_text(
        align="left", baseline="top", dx=4, dy=3, color="#2d6a2b", fontSize=11).encode(
        x=alt.value(0), y="y:Q", text="t:N")
    rule = alt.Chart(alt.Data(values=[{"y": caution, "t": f"{caution:g} ({src})"}])).mark_rule(
        color=RED, strokeDash=[6, 4]).encode(y="y:Q")
    rule_label = alt.Chart(alt.Data(values=[{"y": caution, "t": f"{caution:g}"}])).mark_text(
        align="left", baseline="bottom", dx=4, dy=-2, color=RED, fontSize=11).encode(
        x=alt.value(0), y="y:Q", text="t:N")
    lines = alt.Chart(data).mark_line(strokeWidth=2).encode(
        x=x,
        y=alt.Y("value:Q", title="acute : chronic", scale=alt.Scale(domain=[0, ymax])),
        color=alt.Color("ratio:N", scale=alt.Scale(domain=["rolling (uncoupled)", "EWMA"], range=[BLUE, "#9d755d"]),
                        legend=alt.Legend(title=None, orient="top")),
        strokeDash=alt.StrokeDash("ratio:N", scale=alt.Scale(domain=["rolling (uncoupled)", "EWMA"],
                                                            range=[[1, 0], [4, 3]]),
                                  legend=alt.Legend(title=None, orient="top")),  # merged with colour
        tooltip=[alt.Tooltip("local_date:T", title="day", format="%a %d %b %Y"),
                 alt.Tooltip("ratio:N"), alt.Tooltip("value:Q", format=".2f")],
    )
    layers = [band, band_label, rule, rule_label, lines]
    datasets = {"acwr": _rows(long)}
    raised = flags.filter(pl.col("rule") == "acwr_high") if not flags.is_empty() else flags
    if not raised.is_empty():
        pts = raised.select("local_date", "value")
        layers.append(alt.Chart(alt.Data(name="acwr_flags")).mark_point(
            shape="triangle-up", size=110, filled=True, color=RED).encode(
            x=x, y="value:Q",
            tooltip=[alt.Tooltip("local_date:T", title="flag raised", format="%a %d %b %Y"),
                     alt.Tooltip("value:Q", title="ratio", format=".2f")]))
        datasets["acwr_flags"] = _rows(pts)
    chart = alt.layer(*layers).properties(width=CHART_WIDTH, height=240)
    return Section("acwr", "Acute:chronic ratio", intro, spec=_spec(chart, datasets))


def _spike_section(alt, spikes: pl.DataFrame, th: dict[str, float], weeks: int) -> Section:
    days = int(th["spike_lookback_days"])
    cuts = [("caution", th["spike_caution_ratio"]), ("warning", th["spike_warning_ratio"]),
            ("alert", th["spike_alert_ratio"])]
    src = THRESHOLDS["spike_caution_ratio"].source
    intro = (
        f"Each run's distance against the longest run of the previous {days} days: +0% is as long "
        f"as that run. Lines: " + ", ".join(f"+{r * 100:g}% {name}" for name, r in cuts)
        + f" ({src})."
    )
    runs = spikes.filter(pl.col("spike_ratio").is_not_null()) if not spikes.is_empty() else spikes
    if runs.is_empty():
        return Section("spikes", "Single-run spikes", intro,
                       note=f"No run in this period had an earlier run within {days} days to compare with.")
    df = runs.with_columns(
        distance_km=pl.col("distance_m") / 1000,
        baseline_km=pl.col("baseline_distance_m") / 1000,
        zero=pl.lit(0.0),
    )
    no_base = spikes.height - runs.height
    data = alt.Data(name="spikes")
    x = alt.X("started_at:T", title=None, axis=date_axis(weeks))
    band_scale = alt.Scale(domain=list(BAND_COLOURS), range=list(BAND_COLOURS.values()))
    colour = alt.Color("band:N", scale=band_scale, legend=alt.Legend(title="band", orient="top"))
    tooltip = [alt.Tooltip("local_date:T", title="run on", format="%a %d %b %Y"),
               alt.Tooltip("distance_km:Q", title="km", format=".1f"),
               alt.Tooltip("baseline_km:Q", title=f"longest of previous {days} days (km)", format=".1f"),
               alt.Tooltip("spike_pct:Q", title="% longer", format="+.0f"),
               alt.Tooltip("band:N")]
    stems = alt.Chart(data).mark_rule(strokeWidth=2).encode(x=x, y="zero:Q", y2="spike_pct:Q", color=colour)
    dots = alt.Chart(data).mark_circle(size=70, opacity=1).encode(
        x=x, y=alt.Y("spike_pct:Q", title=f"% longer than the {days}-day longest"), color=colour, tooltip=tooltip)
    cut_rows = [{"y": r * 100, "t": f"+{r * 100:g}% {name}", "severity": name} for name, r in cuts]
    rules = [alt.Chart(alt.Data(values=[row])).mark_rule(strokeDash=[5, 4], opacity=0.8,
                                                         color=SEVERITY_COLOURS[row["severity"]]).encode(y="y:Q")
             for row in cut_rows]
    rule_text = alt.Chart(alt.Data(values=cut_rows)).mark_text(
        align="right", baseline="bottom", dy=-2, fontSize=10, color="#555").encode(
        x=alt.value(CHART_WIDTH), y="y:Q", text="t:N")
    chart = alt.layer(*rules, rule_text, stems, dots).properties(
        width=CHART_WIDTH, height=240)
    note = (f"{no_base} run(s) had no earlier run within {days} days and are not drawn." if no_base else None)
    return Section("spikes", "Single-run spikes", intro, spec=_spec(chart, {"spikes": _rows(df)}), note=note)


def _gait_section(alt, metrics: pl.DataFrame, weeks: int) -> Section:
    intro = (
        "Average cadence (steps per minute, both feet) and ground contact time (milliseconds) of "
        "each run over its running samples only (walk breaks and stops left out: "
        f"avg_cadence_run_spm, avg_ground_contact_time_run_ms), with the mean of the last {ROLLING_RUNS} "
        "runs. Ground contact time needs a "
        "watch or pod that measures running dynamics; runs without it are left out of that panel."
    )
    has_cad = not metrics.is_empty() and metrics["avg_cadence_run_spm"].drop_nulls().len() > 0
    has_gct = not metrics.is_empty() and metrics["avg_ground_contact_time_run_ms"].drop_nulls().len() > 0
    if not has_cad and not has_gct:
        return Section("gait", "Cadence and ground contact time", intro,
                       note="No run in this period has cadence or ground contact time.")
    data = alt.Data(name="gait")
    x = alt.X("started_at:T", title=None, axis=date_axis(weeks))
    df = metrics.with_columns(distance_km=pl.col("distance_m") / 1000)
    panels = []
    for field_, title, colour, fmt in (
        ("avg_cadence_run_spm", "running cadence (steps/min)", BLUE, ".0f"),
        ("avg_ground_contact_time_run_ms", "running ground contact time (ms)", "#9d755d", ".0f"),
    ):
        if df[field_].drop_nulls().len() == 0:
            continue
        src_field = "cadence_source" if "cadence" in field_ else "gct_source"
        base = alt.Chart(data).transform_filter(f"isValid(datum.{field_})")
        pts = base.mark_circle(size=45, color=colour, opacity=0.7).encode(
            x=x, y=alt.Y(f"{field_}:Q", title=title, scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("local_date:T", title="run on", format="%a %d %b %Y"),
                     alt.Tooltip(f"{field_}:Q", title=title, format=fmt),
                     alt.Tooltip("distance_km:Q", title="km", format=".1f"),
                     alt.Tooltip(f"{src_field}:N", title="source")])
        mean = base.transform_window(
            rolling=f"mean({field_})", frame=[-(ROLLING_RUNS - 1), 0], sort=[{"field": "started_at"}]
        ).mark_line(color=colour, strokeWidth=2).encode(x=x, y=alt.Y("rolling:Q", title=title))
        panels.append(alt.layer(pts, mean).properties(width=CHART_WIDTH, height=150))
    chart = alt.vconcat(*panels)
    note = None
    if not has_gct:
        note = "No ground contact time in this period (it needs running dynamics from a watch or pod)."
    elif not has_cad:
        note = "No cadence in this period."
    return Section("gait", "Cadence and ground contact time", intro, spec=_spec(chart, {"gait": _rows(df)}), note=note)


def _pain_section(alt, pain: pl.DataFrame | None, daily: pl.DataFrame, th: dict[str, float], weeks: int) -> Section:
    warn = th["pain_during_warning"]
    src = THRESHOLDS["pain_during_warning"].source
    intro = (
        "Pain scores you logged (0-10, dots, by the moment: before, during, after a run, evening, "
        "next morning) over your daily running distance (grey bars). Dashed line: pain during a "
        f"run above {warn:g}/10 raises a warning ({src})."
    )
    if pain is None or pain.is_empty():
        return Section(
            "pain", "Pain over load", intro,
            note=("No pain logged yet. Log a score after a run with `footfall log pain 3 --when after` "
                  "(or --when during / next_morning; `footfall log import journal.csv` for a whole "
                  "journal), and it shows here beside your load."),
        )
    km = daily.select("local_date", (pl.col("running_distance_m") / 1000).alias("distance_km"))
    pts = pain.select("local_date", "moment", "score", "location")
    x = alt.X("local_date:T", title=None, axis=date_axis(weeks))
    bars = alt.Chart(alt.Data(name="daily")).mark_bar(color=GREY, size=4).encode(
        x=x, y=alt.Y("distance_km:Q", title="running distance (km, bars)"),
        tooltip=[alt.Tooltip("local_date:T", title="day", format="%a %d %b %Y"),
                 alt.Tooltip("distance_km:Q", title="km", format=".1f")])
    moments = [m for m in MOMENT_COLOURS if m in set(pts["moment"].to_list())]
    pain_y = alt.Y("score:Q", title="pain (0-10, dots)", scale=alt.Scale(domain=[0, 10]),
                   axis=alt.Axis(orient="right"))
    dots = alt.Chart(alt.Data(name="pain")).mark_point(filled=True, size=80, opacity=0.9).encode(
        x=x, y=pain_y,
        color=alt.Color("moment:N", scale=alt.Scale(domain=moments, range=[MOMENT_COLOURS[m] for m in moments]),
                        legend=alt.Legend(title=None, orient="top")),
        tooltip=[alt.Tooltip("local_date:T", title="felt on", format="%a %d %b %Y"),
                 alt.Tooltip("moment:N"), alt.Tooltip("score:Q", format=".1f"),
                 alt.Tooltip("location:N", title="where")])
    rule = alt.Chart(alt.Data(values=[{"score": warn}])).mark_rule(color=RED, strokeDash=[6, 4]).encode(
        y=pain_y)
    chart = alt.layer(bars, alt.layer(rule, dots)).resolve_scale(y="independent").properties(
        width=CHART_WIDTH, height=240)
    return Section("pain", "Pain over load", intro,
                   spec=_spec(chart, {"daily": _rows(km), "pain": _rows(pts)}))


def _shoe_section(alt, shoes: pl.DataFrame | None, th: dict[str, float]) -> Section:
    retire_km = th["shoe_retire_m"] / 1000
    intro = (
        "Distance in each shoe (every activity worn in it; runs, walks). Dashed line: "
        f"{retire_km:,.0f} km, where footfall suggests thinking about retiring a shoe (a footfall "
        "heuristic, not evidence)."
    )
    if shoes is None or shoes.is_empty():
        return Section(
            "shoes", "Shoe mileage", intro,
            note=('No shoes yet. Add the shoe you run in with `footfall shoes add "Pegasus 40" --default` '
                  "and its runs are counted from then on (or from --first-used)."),
        )
    df = shoes.with_columns(
        distance_km=pl.col("distance_m") / 1000,
        distance_28d_km=pl.col("distance_28d_m") / 1000,
        state=pl.when(pl.col("is_retired")).then(pl.lit("retired")).otherwise(pl.lit("in use")),
        label=pl.format("{} km", (pl.col("distance_m") / 1000).round(0).cast(pl.Int64)),
    )
    data = alt.Data(name="shoes")
    y = alt.Y("name:N", sort=df["name"].to_list(), title=None)  # longest first (query order)
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("distance_km:Q", title="distance (km)",
                scale=alt.Scale(domain=[0, max(retire_km, float(df["distance_km"].max())) * 1.08])),
        y=y,
        color=alt.Color("state:N", scale=alt.Scale(domain=["in use", "retired"], range=[BLUE, GREY]),
                        legend=alt.Legend(title=None, orient="top")),
        tooltip=[alt.Tooltip("name:N", title="shoe"), alt.Tooltip("distance_km:Q", title="km", format=",.1f"),
                 alt.Tooltip("n_runs:Q", title="runs"),
                 alt.Tooltip("distance_28d_km:Q", title="km, last 28 days", format=",.1f"),
                 alt.Tooltip("start_date:T", title="since", format="%d %b %Y"), alt.Tooltip("state:N")])
    text = alt.Chart(data).mark_text(align="left", dx=4, fontSize=11, color="#333").encode(
        x="distance_km:Q", y=y, text="label:N")
    rule = alt.Chart(alt.Data(values=[{"x": retire_km}])).mark_rule(color=RED, strokeDash=[6, 4]).encode(x="x:Q")
    chart = alt.layer(bars, text, rule).properties(width=CHART_WIDTH - 140, height=max(40, 28 * df.height))
    return Section("shoes", "Shoe mileage", intro, spec=_spec(chart, {"shoes": _rows(df)}))


def _progression_section(alt, prog: pl.DataFrame | None) -> Section:
    intro = (
        "Run-walk progression per week (Monday to Sunday): minutes running and walking inside "
        "your runs (stacked bars), the longest continuous running bout (line), and below, "
        "running-only cadence (walk breaks left out) with the mean of your previous 4 weeks "
        "(dashed). A footfall view with no threshold: a cadence change is shown, never flagged "
        "(raising cadence is a common intervention to reduce forefoot and knee load)."
    )
    title = "Run-walk progression"
    if prog is None or prog.is_empty() or (prog["running_min"].sum() + prog["walking_min"].sum()) == 0:
        return Section("progression", title, intro, note="No runs in this period.")
    fmt = "%d %b" if prog.height <= 52 else "%d %b %Y"
    df = prog.with_columns(week=pl.col("week_start_date").dt.strftime(fmt))
    bars = pl.concat([
        df.select("week", "week_start_date", pl.lit("running").alias("kind"),
                  pl.col("running_min").alias("minutes")),
        df.select("week", "week_start_date", pl.lit("walking").alias("kind"),
                  pl.col("walking_min").alias("minutes")),
    ])
    x = alt.X("week:N", sort=None, title="week starting (Monday)",
              axis=alt.Axis(labelAngle=-45, labelOverlap="greedy"))
    tooltip = [
        alt.Tooltip("week_start_date:T", title="week of", format="%a %d %b %Y"),
        alt.Tooltip("running_min:Q", title="running min", format=".1f"),
        alt.Tooltip("walking_min:Q", title="walking min", format=".1f"),
        alt.Tooltip("run_walk_ratio:Q", title="run:walk", format=".2f"),
        alt.Tooltip("longest_run_bout_min:Q", title="longest bout min", format=".1f"),
        alt.Tooltip("running_min_prev4_mean:Q", title="running min, previous 4 weeks' mean", format=".1f"),
        alt.Tooltip("running_min_change_pct:Q", title="running min vs previous 4 weeks %", format="+.0f"),
    ]
    stacked = alt.Chart(alt.Data(name="progression_bars")).mark_bar().encode(
        x=x, y=alt.Y("sum(minutes):Q", title="minutes (bars: running + walking)"),
        color=alt.Color("kind:N", scale=alt.Scale(domain=["running", "walking"], range=[BLUE, "#b8c7d9"]),
                        legend=alt.Legend(title=None, orient="top")),
        order=alt.Order("kind:N", sort="ascending"),
        tooltip=[alt.Tooltip("week_start_date:T", title="week of", format="%a %d %b %Y"),
                 alt.Tooltip("kind:N"), alt.Tooltip("minutes:Q", format=".1f")])
    bout = alt.Chart(alt.Data(name="progression")).mark_line(point=True, color="#333", strokeWidth=1.5).encode(
        x=x, y=alt.Y("longest_run_bout_min:Q", title="longest continuous running bout (min, line)",
                     axis=alt.Axis(orient="right")),
        tooltip=tooltip)
    top = alt.layer(stacked, bout).resolve_scale(y="independent").properties(width=CHART_WIDTH, height=240)
    panels = [top]
    note = None
    if df["cadence_run_spm"].drop_nulls().len():
        cad_base = alt.Chart(alt.Data(name="progression")).transform_filter("isValid(datum.cadence_run_spm)")
        cad = cad_base.mark_line(point=True, color=BLUE).encode(
            x=x, y=alt.Y("cadence_run_spm:Q", title="running cadence (steps/min)", scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("week_start_date:T", title="week of", format="%a %d %b %Y"),
                     alt.Tooltip("cadence_run_spm:Q", title="running cadence", format=".1f"),
                     alt.Tooltip("cadence_run_spm_prev4_mean:Q", title="previous 4 weeks", format=".1f"),
                     alt.Tooltip("cadence_run_spm_change:Q", title="change (steps/min)", format="+.1f"),
                     alt.Tooltip("ground_contact_time_run_ms:Q", title="running contact time ms", format=".0f")])
        base_line = alt.Chart(alt.Data(name="progression")).transform_filter(
            "isValid(datum.cadence_run_spm_prev4_mean)").mark_line(color=BLUE, strokeDash=[5, 4], opacity=0.7).encode(
            x=x, y=alt.Y("cadence_run_spm_prev4_mean:Q"))
        panels.append(alt.layer(cad, base_line).properties(width=CHART_WIDTH, height=140))
    else:
        note = "No running cadence in this period (it needs a watch or pod that records cadence)."
    chart = alt.vconcat(*panels)
    return Section("progression", title, intro, note=note,
                   spec=_spec(chart, {"progression": _rows(df), "progression_bars": _rows(bars)}))


def _plan_section(alt, plan: pl.DataFrame | None, th: dict[str, float]) -> Section | None:
    """The return-to-run plan against what was run; None when the athlete has no plan."""
    if plan is None or plan.is_empty():
        return None
    margin = th["plan_exceeded_margin"]
    intro = (
        "Your return-to-run plan (`footfall plan`) week by week: planned running minutes and "
        "longest continuous run (grey) against what you ran (blue; orange when it exceeded the "
        f"plan by more than {margin:.0%}, which raises a plan_exceeded caution: a footfall "
        "heuristic, the plan sets the numbers). The current week is the week so far; future "
        "weeks show the plan only."
    )
    rows = []
    for r in plan.to_dicts():
        label = f"wk {r['week_number']} ({r['week_start_date']:%d %b})"
        future = r["week_status"] == "future"
        status = "exceeded" if r["is_exceeded"] else ("week so far" if r["week_status"] == "current" else "ran")
        common = {"week": label, "week_number": r["week_number"], "week_start_date": r["week_start_date"],
                  "pattern": r["pattern"] or "-", "week_status": r["week_status"]}
        rows.append(common | {"what": "planned", "status": "planned", "run_min": r["run_min"],
                              "longest_min": r["longest_min"]})
        if not future:
            rows.append(common | {"what": "actual", "status": status, "run_min": r["actual_run_min"],
                                  "longest_min": r["actual_longest_bout_min"]})
    df = pl.DataFrame(rows, infer_schema_length=None)
    x = alt.X("week:N", sort=None, title="plan week", axis=alt.Axis(labelAngle=-45, labelOverlap="greedy"))
    colour = alt.Color("status:N", scale=alt.Scale(
        domain=["planned", "ran", "week so far", "exceeded"],
        range=[GREY, BLUE, "#a7c0dc", SEVERITY_COLOURS["warning"]]), legend=alt.Legend(title=None, orient="top"))
    tooltip = [alt.Tooltip("week:N", title="plan week"), alt.Tooltip("what:N"),
               alt.Tooltip("run_min:Q", title="running min", format=".1f"),
               alt.Tooltip("longest_min:Q", title="longest bout min", format=".1f"),
               alt.Tooltip("pattern:N", title="planned pattern"), alt.Tooltip("week_status:N", title="week")]
    data = alt.Data(name="plan")
    minutes = alt.Chart(data).mark_bar().encode(
        x=x, xOffset=alt.XOffset("what:N", sort=["planned", "actual"]),
        y=alt.Y("run_min:Q", title="running minutes in the week"), color=colour, tooltip=tooltip,
    ).properties(width=CHART_WIDTH, height=200)
    longest = alt.Chart(data).transform_filter("isValid(datum.longest_min)").mark_bar().encode(
        x=x, xOffset=alt.XOffset("what:N", sort=["planned", "actual"]),
        y=alt.Y("longest_min:Q", title="longest continuous run (min)"), color=colour, tooltip=tooltip,
    ).properties(width=CHART_WIDTH, height=140)
    chart = alt.vconcat(minutes, longest)
    n_over = int(plan["is_exceeded"].sum())
    note = (f"{n_over} plan week{'s' if n_over != 1 else ''} exceeded the plan by more than {margin:.0%}."
            if n_over else None)
    return Section("plan", "Return-to-run plan vs what you ran", intro, note=note,
                   spec=_spec(chart, {"plan": _rows(df)}))


# --------------------------------------------------------------------------- assembling


def build_report(con: duckdb.DuckDBPyConnection, *, athlete: str | None = None,
                 configured_athlete: str | None = None, weeks: int = DEFAULT_WEEKS) -> Report:
    """Query the marts (read-only) and build the report's charts for one athlete."""
    import altair as alt

    rels = tables(con)
    missing = [t for t in ("daily_load", "weekly_load", "acwr_daily", "session_spikes", "flags") if t not in rels]
    if missing:
        raise ReportError(f"the database has no models yet ({', '.join(missing)} missing): "
                          "run `footfall sync PATH` or `footfall build` first")
    athletes = list_athletes(con)
    athlete_id = resolve_athlete(athletes, athlete, configured_athlete)
    th = _thresholds(con, rels)
    start, end, first = _window(con, athlete_id, weeks)
    p = [athlete_id, start, end]

    weekly = _df(con, "SELECT * FROM weekly_load WHERE athlete_id = ? AND week_start_date + 6 >= ? "
                      "AND week_start_date <= ? ORDER BY week_start_date", p)
    daily = _df(con, "SELECT * FROM daily_load WHERE athlete_id = ? AND local_date BETWEEN ? AND ? "
                     "ORDER BY local_date", p)
    acwr = _df(con, "SELECT local_date, acwr_uncoupled_distance, acwr_coupled_distance, acwr_ewma_distance "
                    "FROM acwr_daily WHERE athlete_id = ? AND local_date BETWEEN ? AND ? ORDER BY local_date", p)
    spikes = _df(con, "SELECT * FROM session_spikes WHERE athlete_id = ? AND local_date BETWEEN ? AND ? "
                      "ORDER BY started_at", p)
    flags = _df(con, "SELECT * FROM flags WHERE athlete_id = ? AND local_date BETWEEN ? AND ? "
                     "ORDER BY local_date DESC, rule, activity_id", p)
    metrics = pl.DataFrame()
    if "activity_metrics" in rels:
        # running-only averages (issue 13), of the activities that count as running load
        runs = ("activity_id IN (SELECT activity_id FROM int_sessions WHERE is_run)"
                if "int_sessions" in rels else "is_run")
        metrics = _df(con, "SELECT activity_id, local_date, started_at, distance_m, avg_cadence_run_spm, "
                           "avg_ground_contact_time_run_ms, cadence_source, gct_source FROM activity_metrics "
                           f"WHERE athlete_id = ? AND local_date BETWEEN ? AND ? AND {runs} "
                           "ORDER BY started_at", p)
    not_counted, more = _not_counted(con, rels, p)
    pain = None
    pain_rel = "int_pain_entries" if "int_pain_entries" in rels else ("pain_log" if "pain_log" in rels else None)
    if pain_rel:
        pain = _df(con, f"SELECT local_date, moment, score, location FROM {pain_rel} "
                        "WHERE athlete_id = ? AND local_date BETWEEN ? AND ? ORDER BY local_date", p)
    shoes = None
    if "shoe_mileage" in rels:
        shoes = _df(con, "SELECT * FROM shoe_mileage WHERE athlete_id = ? ORDER BY distance_m DESC", [athlete_id])
    progression = None
    if "weekly_progression" in rels:
        progression = _df(con, "SELECT * FROM weekly_progression WHERE athlete_id = ? "
                               "AND week_start_date + 6 >= ? AND week_start_date <= ? ORDER BY week_start_date", p)
    plan = None
    if "plan_vs_actual" in rels:
        plan = _df(con, "SELECT * FROM plan_vs_actual WHERE athlete_id = ? ORDER BY week_number", [athlete_id])
    built_at = _one(con, "SELECT max(built_at) FROM build_info")[0] if "build_info" in rels else None
    last_sync = None
    if "sync_runs" in rels:
        last_sync = _one(con, "SELECT max(finished_at) FROM sync_runs WHERE athlete_id = ?", [athlete_id])[0]

    last_return = None
    if "last_return_date" in daily.columns and not daily.is_empty():
        last_return = daily["last_return_date"].drop_nulls().max()
    sev = flags["severity"].value_counts() if not flags.is_empty() else None
    totals = {
        "runs": int(daily["n_runs"].sum()) if not daily.is_empty() else 0,
        "activities": int(daily["n_activities"].sum()) if not daily.is_empty() else 0,
        "running_km": float(daily["running_distance_m"].sum()) / 1000 if not daily.is_empty() else 0.0,
        "running_hours": float(daily["running_moving_time_s"].sum()) / 3600 if not daily.is_empty() else 0.0,
        "steps": int(daily["steps"].sum()) if not daily.is_empty() else 0,
        "longest_run_km": (float(daily["longest_run_m"].max()) / 1000
                           if not daily.is_empty() and daily["longest_run_m"].drop_nulls().len() else None),
        "flags": flags.height,
        "flags_by_severity": dict(zip(sev["severity"].to_list(), sev["count"].to_list())) if sev is not None else {},
        "first_date": first,
        "pain_entries": 0 if pain is None else pain.height,
        "shoes": 0 if shoes is None else shoes.height,
        "last_return": last_return,
        "weeks_since_return": None if last_return is None else (end - last_return).days // 7,
        "return_break_days": int(th.get("return_break_days", threshold_default("return_break_days"))),
        "acwr_chronic_days": int(th["acwr_chronic_days"]),
    }
    n_weeks = (_monday(end) - _monday(start)).days // 7 + 1
    sections = [
        _weekly_section(alt, weekly, th),
        _acwr_section(alt, acwr, flags, th, n_weeks),
        _spike_section(alt, spikes, th, n_weeks),
        _gait_section(alt, metrics, n_weeks),
        _progression_section(alt, progression),
        _plan_section(alt, plan, th),
        _pain_section(alt, pain, daily, th, n_weeks),
        _shoe_section(alt, shoes, th),
    ]
    sections = [x for x in sections if x is not None]  # the plan's only when there is a plan
    return Report(athlete_id=athlete_id, start=start, end=end, weeks=n_weeks, totals=totals,
                  sections=sections, flags=flags.to_dicts(), athletes=athletes,
                  built_at=built_at, last_sync_at=last_sync,
                  calendar_end=_one(con, "SELECT max(local_date) FROM daily_load WHERE athlete_id = ?",
                                    [athlete_id])[0],
                  not_counted=not_counted, not_counted_more=more)


#: Rows of the "not counted / your word" table; the rest: `footfall audit`.
NOT_COUNTED_ROWS = 30


def _not_counted(con, rels: set[str], p: list) -> tuple[list[dict], int]:
    """The period's activities the runner spoke about or footfall did not count as running load."""
    if "int_activity_status" not in rels:
        return [], 0
    df = _df(con, "SELECT local_date, activity_id, detected_sport, final_sport, override_kind, "
                  "counts_as_running_load, running_load_reason FROM int_activity_status "
                  "WHERE athlete_id = ? AND local_date BETWEEN ? AND ? "
                  "AND (override_kind IS NOT NULL OR NOT counts_as_running_load) "
                  "ORDER BY local_date DESC, activity_id", p)
    return df.head(NOT_COUNTED_ROWS).to_dicts(), max(df.height - NOT_COUNTED_ROWS, 0)


def _not_counted_table(rows: list[dict], more: int) -> str:
    if not rows:
        return '<p class="note">Every activity of this period counts as running load as footfall detected it.</p>'
    body = "".join(
        f'<tr><td class="nowrap">{_e(r["local_date"])}</td><td class="nowrap">{_e(r["activity_id"])}</td>'
        f'<td>{_e(r["final_sport"])}</td><td>{"yes" if r["counts_as_running_load"] else "no"}</td>'
        f'<td>{_e(r["running_load_reason"])}</td></tr>' for r in rows)
    tail = f'<p class="small">{more} more: <code>footfall audit</code> lists them all.</p>' if more else ""
    return ('<table class="flags" id="not-counted"><thead><tr><th>date</th><th>activity</th><th>sport</th>'
            '<th>running load</th><th>why</th></tr></thead><tbody>' + body + "</tbody></table>" + tail)


# --------------------------------------------------------------------------- HTML


@functools.lru_cache(maxsize=1)
def vega_javascript() -> str:
    """The Vega + Vega-Lite + vega-embed bundle (defines ``window.vegaEmbed``), from vl-convert:
    the same bundle altair inlines with ``chart.save(..., inline=True)``."""
    import altair as alt
    import vl_convert as vlc

    version = "_".join(alt.SCHEMA_VERSION.split(".")[:2])  # the specs' Vega-Lite: 'v6.4.1' -> 'v6_4'
    try:
        js = vlc.javascript_bundle(vl_version=version)
    except (ValueError, RuntimeError):  # a vl-convert older than this altair: its newest Vega-Lite
        js = vlc.javascript_bundle()
    return js.replace("</script", "<\\/script")


def _script_json(obj: Any) -> str:
    """JSON safe inside a <script> element (no '</' can close it; no U+2028/9 surprises)."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return s.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _flags_table(flags: list[dict]) -> str:
    if not flags:
        return '<p class="note">No flags in this period.</p>'
    rows = []
    for f in flags:
        sev = str(f.get("severity") or "")
        comp = f.get("comparison") or ">"
        from models.flag_units import measure_text  # in the message's unit (125%, not 1.25)

        measured = measure_text(f.get("value"), f.get("threshold"), f.get("unit"), comp)
        source = _e(f.get("source"))
        if f.get("note"):
            source += f'<div class="small">{_e(f.get("note"))}</div>'
        rows.append(
            f'<tr class="sev-{_e(sev)}"><td class="nowrap">{_e(f.get("local_date"))}</td>'
            f'<td><span class="badge sev-{_e(sev)}">{_e(sev)}</span></td>'
            f'<td class="nowrap">{_e(f.get("rule"))}</td><td>{_e(f.get("message"))}</td>'
            f'<td class="nowrap">{_e(measured)}</td><td>{source}</td></tr>'
        )
    return ('<table class="flags"><thead><tr><th>date</th><th>severity</th><th>rule</th>'
            '<th>message</th><th>value vs threshold</th><th>source</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


CSS = """
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1f2933; margin: 0; background: #f5f6f8; }
main { max-width: 980px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { margin: 0 0 4px; font-size: 26px; } h2 { margin: 36px 0 6px; font-size: 19px; }
.sub { color: #52606d; margin: 0 0 18px; }
.totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 10px; margin: 16px 0; }
.tile { background: #f0f4f8; border-radius: 6px; padding: 10px 12px; }
.tile .v { font-size: 22px; font-weight: 600; } .tile .k { color: #52606d; font-size: 12px; }
.intro { color: #3e4c59; font-size: 14px; margin: 0 0 10px; max-width: 860px; }
.note { background: #fffbea; border-left: 4px solid #f0b429; padding: 8px 12px; font-size: 14px; }
.note code, .intro code { background: #f0f4f8; padding: 1px 4px; border-radius: 3px; }
.chart { min-height: 40px; }
table.flags { border-collapse: collapse; width: 100%; font-size: 13px; }
table.flags th, table.flags td { border-bottom: 1px solid #e4e7eb; padding: 6px 6px; text-align: left; vertical-align: top; }
table.flags th { background: #f0f4f8; }
.badge { border-radius: 10px; padding: 1px 8px; color: #fff; font-size: 12px; }
.badge.sev-info { background: #4c78a8; } .badge.sev-caution { background: #e0a800; } .badge.sev-warning { background: #f58518; } .badge.sev-alert { background: #d62728; }
.small { color: #616e7c; font-size: 11px; margin-top: 2px; } .nowrap { white-space: nowrap; }
footer { margin-top: 36px; color: #616e7c; font-size: 12px; }
"""

#: Records uncaught errors (also those of the bundle) so that the page itself says when a script failed.
ERRORS_JS = """
window.footfallErrors = [];
window.addEventListener("error", function (e) { window.footfallErrors.push(String(e.message)); });
"""

EMBED_JS = """
(function () {
  var specs = JSON.parse(document.getElementById("footfall-specs").textContent);
  var jobs = Object.keys(specs).map(function (key) {
    var el = document.getElementById("chart-" + key);
    return vegaEmbed(el, specs[key], {renderer: "svg", actions: false})
      .then(function () { el.setAttribute("data-rendered", "true"); })
      .catch(function (err) {
        el.setAttribute("data-error", String(err));
        el.textContent = "This chart could not be drawn: " + err;
        console.error("footfall chart " + key + ": " + err);
      });
  });
  Promise.all(jobs).then(function () {
    document.body.setAttribute("data-js-errors", String(window.footfallErrors.length));
    document.body.setAttribute("data-charts", "done");
  });
})();
"""


def _md_code(text: str) -> str:
    """Escape, then show `...` as <code>."""
    parts = _e(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _date(d: date | None) -> str:
    return d.strftime("%a %d %b %Y") if d else "-"


def render_html(report: Report, javascript: str | None = None) -> str:
    """The whole page as one string (scripts and data inline)."""
    t = report.totals
    js = vega_javascript() if javascript is None else javascript
    sev = t["flags_by_severity"]
    sev_text = ", ".join(f"{sev[k]} {k}" for k in ("alert", "warning", "caution", "info") if k in sev)
    tiles = [
        (f"{t['runs']}", "runs"),
        (f"{t['running_km']:,.1f}", "km of running"),
        (f"{t['running_hours']:,.1f}", "hours running"),
        (f"{t['steps']:,}", "running steps"),
        ("-" if t["longest_run_km"] is None else f"{t['longest_run_km']:.1f} km", "longest run"),
        (f"{t['flags']}", "flags" + (f" ({sev_text})" if sev_text else "")),
    ]
    out = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>footfall report: {_e(report.athlete_id)}, {report.start} to {report.end}</title>",
        f"<style>{CSS}</style>",
        f"<script>{ERRORS_JS}</script>",
        f'<script type="text/javascript">{js}</script>',
        "</head><body><main>",
        f"<h1>footfall report: {_e(report.athlete_id)}</h1>",
        f'<p class="sub">{_date(report.start)} to {_date(report.end)} ({report.weeks} weeks'
        + (f"; history since {_date(t['first_date'])}" if t["first_date"] != report.start else "")
        + ")" + (f" &middot; last sync {report.last_sync_at:%Y-%m-%d %H:%M} UTC" if report.last_sync_at else "")
        + (f" &middot; ends with your last activity or journal entry: nothing after it up to "
           f"{_date(report.calendar_end)}" if report.calendar_end and report.end < report.calendar_end else "")
        + "</p>",
        '<div class="totals">' + "".join(
            f'<div class="tile"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>' for v, k in tiles
        ) + "</div>",
    ]
    if len(report.athletes) > 1:
        others = ", ".join(a for a in report.athletes if a != report.athlete_id)
        out.append(f'<p class="small">Other athletes in this database: {_e(others)} '
                   "(<code>footfall report --athlete NAME</code>).</p>")
    out.append('<h2 id="flags">Flags in this period</h2>')
    out.append('<p class="intro">Each flag names its rule, the value measured against its threshold, and '
               "the threshold's source. Load flags point at loading spikes linked to injury risk in "
               "studies, relative to your own recent runs; the severity names (caution, warning, alert) "
               "order attention, not the probability of injury. They are prompts to look at your "
               "training, not diagnoses; none of these thresholds is validated for chronic forefoot "
               "pain. Pain rules: Silbernagel et al. 2007 allow pain during activity up to 5/10, want "
               "pain after activity settled by the next morning and no worsening from week to week; "
               "the 14-day next-morning baseline and 'rising over three runs' are footfall's own "
               "operationalisations.</p>")
    out.append(f'<p class="note safety" id="safety-note">{_e(BONE_STRESS_NOTE)}</p>')
    if t.get("last_return") is not None:
        w = t["weeks_since_return"]
        out.append(f'<p class="note" id="return-note">Return after a break: you ran again on '
                   f"{_date(t['last_return'])} after {t['return_break_days']} or more days without "
                   f"running; {w} week{'s' if w != 1 else ''} "
                   + ("since then" if report.calendar_end is None or report.end >= report.calendar_end
                      else f"from then to the end of this report ({_date(report.end)})")
                   + f". The acute:chronic ratio is "
                   f"not flagged until {t['acwr_chronic_days']} days of data have built up again, "
                   "and a run with no run in its previous 30 days has no spike baseline.</p>")
    out.append(_flags_table(report.flags))
    out.append('<h2 id="not-counted">Activities not counted, and your word on them</h2>')
    out.append('<p class="intro">Activities footfall did not count as running load (not a run, by the '
               "evidence of the file), and those you set yourself with <code>footfall activity "
               "sport|exclude|include</code>. <code>footfall audit</code> shows every check.</p>")
    out.append(_not_counted_table(report.not_counted, report.not_counted_more))
    specs = {}
    for s in report.sections:
        out.append(f'<section id="section-{s.key}"><h2>{_e(s.title)}</h2>')
        out.append(f'<p class="intro">{_md_code(s.intro)}</p>')
        if s.spec is not None:
            out.append(f'<div class="chart" id="chart-{s.key}" data-chart="{s.key}"></div>')
            specs[s.key] = s.spec
        if s.note:
            out.append(f'<p class="note" data-note="{s.key}">{_md_code(s.note)}</p>')
        out.append("</section>")
    out.append(
        f"<footer>Made by footfall on {report.generated_at:%Y-%m-%d %H:%M} UTC from the models built "
        + (f"{report.built_at:%Y-%m-%d %H:%M} UTC" if report.built_at else "(unknown)")
        + ". Thresholds: models/thresholds.py with your overrides; sources in the flags table. "
        "Charts: Vega-Lite (drawn in this page, no network).</footer>"
    )
    out.append("</main>")
    out.append(f'<script type="application/json" id="footfall-specs">{_script_json(specs)}</script>')
    out.append(f"<script>{EMBED_JS}</script>")
    out.append("</body></html>")
    return "\n".join(out)


def _umask() -> int:
    """The process umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_report(db_path: str | Path, out: str | Path, *, athlete: str | None = None,
                 configured_athlete: str | None = None, weeks: int = DEFAULT_WEEKS,
                 lock_wait_s: float = 60.0) -> Report:
    """Build the report from ``db_path`` (opened read-only) and write it to ``out`` atomically."""
    from pipelines.db import connection

    from pipelines.db import exists

    if not exists(db_path):
        raise ReportError(f"{db_path} does not exist; run `footfall sync PATH` first")
    with connection(db_path, read_only=True, wait_s=lock_wait_s) as con:
        report = build_report(con, athlete=athlete, configured_athlete=configured_athlete, weeks=weeks)
    page = render_html(report)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp makes 0600)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report
