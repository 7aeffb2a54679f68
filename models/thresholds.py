"""Every threshold footfall uses, once, with its unit and source.

Python code reads ``value(name)``; SQL models read the same numbers as DuckDB variables
(``getvariable('spike_caution_ratio')``), set from this table (with the user's overrides from
config) by the model runner. Nothing else writes a threshold down.

Sources are quoted in ../shared/SCIENCE.md; none of these thresholds is validated for chronic
forefoot pain.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.options import ReaderOptions


@dataclass(frozen=True)
class Threshold:
    name: str
    value: float
    unit: str
    source: str
    note: str = ""


_ALL = [
    # --- single-session spike, Frandsen et al. 2025 (BJSM 59(17):1203-1210) ---
    Threshold("spike_lookback_days", 30, "days", "Frandsen et al. 2025",
              "baseline = longest run in the previous 30 days"),
    Threshold("spike_caution_ratio", 0.10, "fraction over baseline", "Frandsen et al. 2025",
              ">10-30% longer than the 30-day longest run: HRR 1.64"),
    Threshold("spike_warning_ratio", 0.30, "fraction over baseline", "Frandsen et al. 2025",
              ">30-100%: HRR 1.52"),
    Threshold("spike_alert_ratio", 1.00, "fraction over baseline", "Frandsen et al. 2025",
              ">100%: HRR 2.28"),
    # --- weekly ramp, Nielsen et al. 2014 (JOSPT 44(10):739-747) ---
    Threshold("weekly_ramp_pct", 30, "percent", "Nielsen et al. 2014",
              "week-over-week running distance increase; HR 1.59 (95% CI 0.96-2.66), not significant"),
    # --- ACWR, Gabbett 2016; critique Impellizzeri et al. 2020/2021 ---
    Threshold("acwr_caution", 1.5, "ratio", "Gabbett 2016",
              "descriptive only: Impellizzeri et al. 2020/2021 show ACWR behaves as rescaled acute load"),
    Threshold("acwr_sweet_low", 0.8, "ratio", "Gabbett 2016", "team-sport 'sweet spot' lower edge"),
    Threshold("acwr_sweet_high", 1.3, "ratio", "Gabbett 2016", "team-sport 'sweet spot' upper edge"),
    Threshold("acwr_acute_days", 7, "days", "Williams et al. 2017", "EWMA N acute"),
    Threshold("acwr_chronic_days", 28, "days", "Williams et al. 2017", "EWMA N chronic; ratios NULL before"),
    # --- monotony, Foster 1998 ---
    Threshold("monotony_caution", 2.0, "ratio", "Foster 1998",
              "7-day mean/SD of daily load; the 2.0 cut-off is from secondary sources"),
    # --- pain monitoring, Silbernagel et al. 2007 ---
    Threshold("pain_during_warning", 5, "score 0-10", "Silbernagel et al. 2007",
              "pain during activity up to 5/10 is allowed in the pain-monitoring model; above it "
              "is not"),
    Threshold("pain_baseline_days", 14, "days", "footfall choice, after Silbernagel et al. 2007",
              "next-morning pain is compared with the mean of this many previous days: footfall's "
              "operationalisation of Silbernagel's 'pain after activity settled by the next "
              "morning' (the paper has no 14-day baseline)"),
    Threshold("pain_rising_min", 3, "score 0-10", "footfall choice, after Silbernagel et al. 2007",
              "pain >= 3 rising across three consecutive runs: footfall's operationalisation of "
              "'no worsening from week to week' (not in the paper)"),
    Threshold("pain_morning_above_baseline", 0, "score points",
              "footfall choice, after Silbernagel et al. 2007",
              "next-morning pain more than this many points above the runner's recent baseline "
              "(mean next-morning score of the previous pain_baseline_days days): footfall's "
              "reading of 'pain after activity must settle by the next morning'"),
    Threshold("pain_baseline_min_entries", 3, "entries", "footfall choice",
              "next-morning baseline needs at least this many next-morning scores in the previous "
              "pain_baseline_days days; with fewer there is no baseline and no flag"),
    # --- flag guards (issue 14): enough history, floors, day totals, returns (SCIENCE.md s5) ---
    Threshold("ramp_history_weeks", 2, "complete weeks", "footfall choice",
              "a weekly ramp is flagged only when the runner's data covers this many complete ISO "
              "weeks before the judged week (the first, often partial, week never serves as a base)"),
    Threshold("ramp_min_prev_week_m", 10_000, "m", "footfall choice",
              "a weekly ramp is flagged only when the previous week had at least this much running; "
              "tiny bases are shown, not flagged"),
    Threshold("ramp_min_increase_m", 5_000, "m", "footfall choice",
              "a weekly ramp is flagged only when the week's running exceeds the previous week's "
              "by at least this much"),
    Threshold("acwr_min_acute_m", 10_000, "m", "footfall choice",
              "an ACWR flag needs at least this much running in the acute window (7 days); tiny "
              "bases are shown, not flagged"),
    Threshold("return_break_days", 14, "days without running", "footfall choice",
              "this many days or more without a run make the next run a return after a break "
              "(severity info); ACWR flags wait until acwr_chronic_days of data after it"),
    Threshold("spike_caution_hr", 1.64, "hazard ratio", "Frandsen et al. 2025",
              "reported relative hazard per session (95% CI 1.31-2.05) for >10-30% spikes; quoted "
              "in messages, not a threshold; not absolute risk"),
    Threshold("spike_warning_hr", 1.52, "hazard ratio", "Frandsen et al. 2025",
              "reported relative hazard per session (95% CI 1.16-2.00) for >30-100% spikes; quoted "
              "in messages, not a threshold; not absolute risk"),
    Threshold("spike_alert_hr", 2.28, "hazard ratio", "Frandsen et al. 2025",
              "reported relative hazard per session (95% CI 1.50-3.48) for >100% spikes; quoted "
              "in messages, not a threshold; not absolute risk"),
    # --- footwear, footfall heuristics ---
    Threshold("new_shoe_days", 14, "days", "footfall heuristic", "a shoe's first 14 days"),
    Threshold("new_shoe_week_share", 0.5, "fraction", "footfall heuristic",
              "more than half of a week's running distance in a shoe in its first 14 days"),
    Threshold("shoe_retire_m", 800_000, "m", "footfall heuristic", "a shoe past 800 km"),
    # --- return-to-run plan (footfall plan; sql/30_marts/plan_vs_actual.sql) ---
    Threshold("plan_exceeded_margin", 0.10, "fraction over plan", "footfall heuristic",
              "a plan week whose running minutes or longest continuous running bout exceed the "
              "runner's own plan by more than this raises plan_exceeded (caution); the plan, "
              "not a study, sets the numbers"),
    # --- gait classification and data validity (models/) ---
    Threshold("run_min_cadence_spm", 140, "steps/min", "footfall heuristic",
              "below this a moving sample is walking (walking ~100-130 spm, running >= ~150)"),
    Threshold("run_min_speed_mps", 1.9, "m/s", "footfall heuristic",
              "when cadence is absent: slower than ~8:45 min/km is walking"),
    Threshold("moving_min_speed_mps", 0.5, "m/s", "footfall heuristic", "slower is standing still"),
    Threshold("pause_gap_s", 10, "s", "footfall heuristic",
              "a gap between samples longer than this is a pause (smart recording writes up to ~8 s)"),
    Threshold("cadence_steps_ceiling_spm", 260, "steps/min", "Runalyze",
              "GPX/TCX cadence: doubled median above this means it was already steps/min"),
    Threshold("gait_min_bout_s", 10, "s", "footfall heuristic",
              "a run or walk bout shorter than this merges into its neighbours (a 3 s walk break "
              "inside a run is not a walk interval)"),
    Threshold("gct_max_ms", 1500, "ms", "footfall heuristic",
              "ground contact time above this is not a measurement (one-foot stance at 80 spm "
              "walking is ~900 ms); below it the step-period bound applies (contact time cannot exceed the step period while running)"),
    Threshold("elevation_hysteresis_m", 3, "m", "GoldenCheetah default",
              "altitude must reverse by more than this before a climb/descent is counted"),
    Threshold("speed_window_s", 10, "s", "footfall heuristic",
              "speed derived from GPS positions/distance is averaged over this much moving time, "
              "centred (point-to-point GPS speed is noisy); a file's own speed is used as is"),
    Threshold("infer_run_share", 0.5, "fraction", "footfall heuristic",
              "an untyped activity is a run when at least this share of its moving time is "
              "running gait, a walk when walking gait is the larger share"),
    Threshold("grade_window_m", 20, "m", "footfall heuristic",
              "grade at a sample = altitude change over at least this much distance behind it "
              "(GPS/barometric altitude is too noisy sample to sample)"),
    # --- sport decision (models/sport.py) ---
    # Running world records (World Athletics): a running median moving speed faster than the
    # record for a race at least as long as the activity's moving time is not a person running.
    Threshold("wr_100m_s", 9.58, "s", "World Athletics record (Bolt 2009, 9.58 s)",
              "100 m: 10.44 m/s, the ceiling for activities shorter than the 400 m record (or of "
              "unknown duration)"),
    Threshold("wr_400m_s", 43.03, "s", "World Athletics record (van Niekerk 2016, 43.03 s)",
              "400 m: 9.30 m/s; applies to activities with at least this much moving time"),
    Threshold("wr_800m_s", 100.91, "s", "World Athletics record (Rudisha 2012, 1:40.91)",
              "800 m: 7.93 m/s; applies from this much moving time"),
    Threshold("wr_1500m_s", 206.00, "s", "World Athletics record (El Guerrouj 1998, 3:26.00)",
              "1500 m: 7.28 m/s; applies from this much moving time"),
    Threshold("wr_5000m_s", 755.36, "s", "World Athletics record (Cheptegei 2020, 12:35.36)",
              "5000 m: 6.62 m/s; applies from this much moving time"),
    Threshold("wr_10000m_s", 1571.00, "s", "World Athletics record (Cheptegei 2020, 26:11.00)",
              "10,000 m: 6.37 m/s; applies from this much moving time"),
    Threshold("wr_marathon_s", 7235.00, "s", "World Athletics record (Kiptum 2023, 2:00:35)",
              "marathon: 5.83 m/s; applies from this much moving time"),
    Threshold("run_max_step_length_m", 2.0, "m", "footfall heuristic",
              "median moving speed / median cadence above this step length is not running: at "
              "the 10 km world-record pace (6.37 m/s) and 185-195 steps/min a step is ~2.0 m; "
              "a ride's pedal cadence read as strides (85 rpm -> '170 spm' at 6.5 m/s) gives 2.3 m"),
    Threshold("run_label_min_run_share", 0.05, "fraction", "footfall heuristic",
              "a 'running' label is refused (-> walking) only when less than this share of the "
              "moving time is running gait AND cadence (and contact time, speed when known) say "
              "walking; rehab run-walk plans start around 1 min run / 4-5 min walk (17-20%), so "
              "they stay runs"),
    Threshold("walk_label_max_cadence_spm", 130, "steps/min", "footfall heuristic",
              "without contact time, a 'running' label is refused only below this median cadence: "
              "~130 steps/min is already vigorous walking (Tudor-Locke et al. 2019, CADENCE-Adults), "
              "and a rehab shuffle-jog at 130-140 steps/min must stay a run"),
    Threshold("infer_run_walk_min_share", 0.25, "fraction", "footfall heuristic",
              "an untyped activity with at least this share (but less than infer_run_share) of "
              "its moving time in running gait (bouts >= gait_min_bout_s) is a run-walk, counted "
              "as running: rehab plans prescribe 1:1 to 1:3 run:walk; a walk has no sustained "
              "running bouts"),
    Threshold("run_max_gct_ms", 400, "ms", "footfall heuristic",
              "median contact time above this is walking, not running: running contact is "
              "~150-350 ms; walking stance is ~60% of the gait cycle (Perry & Burnfield 2010), "
              "~600-750 ms at 100-120 steps/min"),
    Threshold("cycling_max_speed_mps", 15.8, "m/s", "UCI hour record (Ganna 2022, 56.792 km)",
              "a median moving speed above this is not inferred as cycling either (sport unknown)"),
    Threshold("pedal_cadence_max_rpm", 130, "rpm", "footfall heuristic",
              "raw cadence (median, moving, non-zero) at most this can be pedalling (road cycling "
              "~60-110 rpm); a higher raw value is steps/min"),
    Threshold("sparse_logger_pause_factor", 3, "x median sample interval", "footfall heuristic",
              "a logger whose median sample interval exceeds pause_gap_s (30-60 s hiking "
              "loggers) is sparse: a gap is a pause only when longer than this many median "
              "intervals, so its moving time and speed are not made of the few short gaps"),
    # --- data quality (models/quality.py: one distance, time and step guards) ---
    Threshold("distance_agree_tolerance", 0.05, "fraction", "footfall heuristic",
              "two distance candidates (device session, laps sum, record counter, cleaned GPS "
              "track) further apart than this share of the chosen one are a 'disagree' check; "
              "laps shorter than records and track by more than this, while those two agree "
              "within it, are not taken (corpus: raw GPS tracks differ from the device's "
              "counter by up to ~9% on TCX runs)"),
    Threshold("distance_agree_min_m", 50, "m", "footfall heuristic",
              "two distance candidates closer than this never disagree (a few GPS fixes of "
              "position error; a triathlon transition of 4 m is not a disagreement at 14%)"),
    Threshold("steps_device_tolerance", 0.10, "fraction", "footfall heuristic",
              "2 x the device's total_strides is the step count only when within this share of "
              "the steps from cadence x time (records; else laps' strides; else the device's "
              "average cadence x timer time); otherwise the derived steps stand"),
    # --- track cleaning (models/track.py) ---
    Threshold("track_max_speed_foot_mps", 12.5, "m/s", "Bolt 2009 (footfall heuristic margin)",
              "fastest plausible step on foot (running, walking, hiking, trail): Bolt's peak "
              "speed in the 2009 100 m world record was ~12.4 m/s; a faster GPS step is an error"),
    Threshold("track_max_speed_cycling_mps", 30.0, "m/s", "footfall heuristic",
              "fastest plausible step on a bike (108 km/h: fast mountain-pass descents reach "
              "~25 m/s); also used for every other or unknown sport (the generous ceiling)"),
    Threshold("track_same_time_s", 0.05, "s", "footfall heuristic",
              "positions recorded less than this apart are one timestamp (no watch logs GPS "
              "faster than 10 Hz; interleaved sources stamp 1-2 ms apart): one of them is kept"),
    Threshold("track_spike_min_m", 50, "m", "footfall heuristic",
              "out-and-back spike: a position at least this far from both neighbours while "
              "they are close together (consumer GPS error is ~5-10 m in open sky, tens of "
              "metres near buildings)"),
    Threshold("track_spike_return_ratio", 0.5, "fraction", "footfall heuristic",
              "out-and-back spike: the neighbours are closer to each other than this fraction "
              "of the shorter leg to the spike (the track returns)"),
    Threshold("track_spike_speed_fraction", 0.5, "fraction of the speed ceiling", "footfall heuristic",
              "out-and-back spike: the detour through it is faster than this fraction of the "
              "sport's speed ceiling (6.25 m/s on foot), so a slow genuine turn-around is kept"),
    Threshold("track_spike_untimed_step_ratio", 10, "ratio", "footfall heuristic",
              "out-and-back spike between untimed positions (no speed to judge): both legs must "
              "also be this many times the track's median step (a drawn route's turn-around "
              "point is as far from its neighbours as any other point; a GPS spike is not)"),
    Threshold("track_interleave_ratio", 2.5, "ratio", "footfall heuristic",
              "interleaved streams: over a window of track_interleave_window points the "
              "point-to-point path is this many times longer than the path over every other "
              "point (a real track: ~1.0-1.1; two sources alternating a few tens of metres "
              "apart: 2-5)"),
    Threshold("track_interleave_min_step_m", 15, "m", "footfall heuristic",
              "interleaved streams: the mean point-to-point step of the window is at least "
              "this long (GPS jitter of a few metres while standing is not a second stream)"),
    Threshold("track_interleave_window", 8, "steps", "footfall heuristic",
              "number of point-to-point steps in the window of the interleaved-stream test"),
    Threshold("track_lookback_points", 32, "points", "footfall heuristic",
              "speed ceiling: a position may connect to any of this many previous positions "
              "(a run of up to this many bad positions is skipped; a longer one is kept and its "
              "jump counted once)"),
    # --- time per sample (models/gait.sample_durations) ---
    Threshold("moving_gap_max_s", 600, "s", "footfall heuristic",
              "time per sample: a gap longer than this is a pause even when the position "
              "advanced across it (sparse loggers write a point every 30-60 s; 10 min without a "
              "point is the logger off, not a sample)"),
    # --- reading files (ingest/) ---
    Threshold("gpx_activity_split_gap_s", 10_800, "s", "footfall heuristic",
              "GPX tracks/segments further apart in time than this (or going back in time) are "
              "separate activities (multi-day files); shorter gaps are pauses of one activity"),
    # --- plausibility of decoded data (models/plausibility.py) ---
    Threshold("plausible_earliest_unix_s", 631_065_600, "s since 1970-01-01 UTC", "FIT SDK",
              "1989-12-31T00:00:00Z, the FIT epoch: no GPS sports watch recorded before it; an "
              "activity starting earlier is refused, a sample dated earlier is dropped"),
    Threshold("plausible_future_slack_s", 86_400, "s", "footfall heuristic",
              "an activity starting later than now + this (or a sample dated later) is refused/"
              "dropped: one day covers every time zone and a wrong clock by hours"),
    Threshold("activity_max_duration_s", 2_592_000, "s", "footfall heuristic",
              "30 days: an activity longer than this (end - start, or elapsed time) is refused"),
    Threshold("activities_per_file_max", 1_000, "count", "footfall heuristic",
              "a watch file holds one activity per session (a triathlon's multisport FIT: 5; a "
              "year of GPX tracks in one file: a few hundred); more is damage, not data, and "
              "deriving metrics for each would stall the sync (fuzz: 25,001 copies of one "
              "session took ~220 s): the whole file is quarantined"),
    Threshold("activity_max_distance_m", 10_000_000, "m", "footfall heuristic",
              "10,000 km, more than 30 days of the fastest ultra-distance cycling (Race Across "
              "America ~4,800 km in ~8 days); a longer activity or cumulative distance is set NULL"),
]

THRESHOLDS: dict[str, Threshold] = {t.name: t for t in _ALL}


@dataclass(frozen=True)
class Bound:
    """The plausible range of one measured quantity; a decoded value outside it (or NaN/inf)
    is set NULL and noted in ``value_checks`` (models/plausibility.py)."""

    name: str
    lower: float
    upper: float
    unit: str
    source: str
    note: str = ""


_BOUNDS = [
    Bound("latitude_deg", -90, 90, "deg", "WGS 84 definition"),
    Bound("longitude_deg", -180, 180, "deg", "WGS 84 definition"),
    Bound("altitude_m", -500, 9_000, "m", "footfall heuristic",
          "Dead Sea shore -430 m, Everest 8,849 m"),
    Bound("heart_rate_bpm", 20, 250, "bpm", "footfall heuristic",
          "below any living athlete's resting rate / above the maximal heart rate of any age (220 - age)"),
    Bound("cadence", 0, 300, "steps/min, strides/min or rpm", "footfall heuristic",
          "sprinters reach ~280 steps/min; raw FIT cadence (uint8) tops out at 254"),
    Bound("speed_mps", 0, 100, "m/s", "footfall heuristic", "speed-skiing record ~70 m/s"),
    Bound("power_w", 0, 3_000, "W", "footfall heuristic", "track-sprint cyclists peak ~2,500 W"),
    Bound("temperature_c", -60, 70, "degC", "footfall heuristic", "outdoor air temperature records"),
    Bound("ground_contact_time_ms", 0, 4_000, "ms", "footfall heuristic",
          "no stance lasts 4 s; models/ apply the tighter gct_max_ms on top"),
    Bound("percent", 0, 100, "%", "definition",
          "stance time %, ground contact balance %, vertical ratio %"),
    Bound("vertical_oscillation_mm", 0, 500, "mm", "footfall heuristic",
          "running vertical oscillation is 50-120 mm"),
    Bound("step_length_mm", 0, 5_000, "mm", "footfall heuristic", "elite sprint steps ~2,500 mm"),
    Bound("leg_spring_stiffness_kn_m", 0, 200, "kN/m", "footfall heuristic",
          "Stryd reports ~5-20 kN/m"),
    Bound("distance_m", 0, THRESHOLDS["activity_max_distance_m"].value, "m", "footfall heuristic",
          "cumulative or total distance: non-negative, at most activity_max_distance_m"),
    Bound("duration_s", 0, THRESHOLDS["activity_max_duration_s"].value, "s", "footfall heuristic",
          "elapsed / timer time: non-negative, at most activity_max_duration_s"),
    Bound("ascent_m", 0, 100_000, "m", "footfall heuristic",
          "total ascent/descent of one activity (the record for 24 h is ~21,000 m)"),
    Bound("calories_kcal", 0, 100_000, "kcal", "footfall heuristic"),
    Bound("local_offset_s", -50_400, 50_400, "s", "IANA time zone database",
          "UTC-12 to UTC+14 (with margin): no place has a larger offset"),
]

BOUNDS: dict[str, Bound] = {b.name: b for b in _BOUNDS}


def value(name: str, overrides: dict[str, float] | None = None) -> float:
    """The threshold's value, with a user's override when given."""
    if overrides and name in overrides:
        return float(overrides[name])
    return THRESHOLDS[name].value


def reader_options(overrides: dict[str, float] | None = None) -> ReaderOptions:
    """The settings the file readers (``ingest/``) need, from this module with the user's
    overrides: ``ingest`` does not import ``models``, so its caller builds these and passes them."""
    lat, lon = BOUNDS["latitude_deg"], BOUNDS["longitude_deg"]
    return ReaderOptions(
        gpx_activity_split_gap_s=value("gpx_activity_split_gap_s", overrides),
        latitude_range_deg=(float(lat.lower), float(lat.upper)),
        longitude_range_deg=(float(lon.lower), float(lon.upper)),
    )
