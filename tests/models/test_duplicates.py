"""models.duplicates: which copy of a run is kept, decided without a database (hand-made candidates)."""

from __future__ import annotations

from datetime import datetime, timedelta

from models.duplicates import SAME_RUN_OVERLAP, SAME_RUN_START_S, Candidate, decide, same_run

T0 = datetime(2026, 3, 2, 7, 0, 0)


def cand(aid: str, start_s: float = 0, minutes: float = 30, fmt: str = "fit", columns: int = 10,
         records: int = 1800) -> Candidate:
    start = T0 + timedelta(seconds=start_s)
    return Candidate(aid, f"file-{aid}", start, start + timedelta(minutes=minutes), fmt, records, columns)


def test_same_run_needs_close_starts_and_overlap():
    a = cand("a")
    assert same_run(a, cand("b", start_s=SAME_RUN_START_S))  # at the bound: same run
    assert not same_run(a, cand("b", start_s=SAME_RUN_START_S + 1))
    # starts 100 s apart, 10 min runs: overlap 500/600 s = 83% >= 80% -> same run
    assert same_run(cand("a", minutes=10), cand("b", start_s=100, minutes=10))
    # starts 100 s apart, 5 min runs: overlap 200/300 s = 67% < 80% -> two runs
    assert not same_run(cand("a", minutes=5), cand("b", start_s=100, minutes=5))
    assert SAME_RUN_OVERLAP == 0.8
    # a span of zero (no end) and a start within the window: same run
    assert same_run(Candidate("a", "f", T0, None, "gpx", 0, 1), cand("b", start_s=30))
    assert not same_run(Candidate("a", "f", None, None, "gpx", 0, 1), cand("b"))


def test_richer_new_copy_wins_within_a_batch():
    fit, gpx = cand("fit", fmt="fit", columns=20), cand("gpx", start_s=3, fmt="gpx", columns=6)
    d = decide([gpx, fit], [])  # poorer first: the order of the batch does not matter
    assert list(d.dropped) == ["gpx"]
    assert d.dropped["gpx"].kept_id == "fit" and not d.dropped["gpx"].landed
    assert d.kept(["fit", "gpx"]) == ["fit"] and d.replaced == []


def test_more_columns_beat_the_format():
    rich_gpx, poor_fit = cand("gpx", fmt="gpx", columns=12), cand("fit", start_s=5, fmt="fit", columns=8)
    assert list(decide([poor_fit, rich_gpx], []).dropped) == ["fit"]


def test_ties_go_fit_then_tcx_then_gpx():
    fit, tcx, gpx = (cand(f, start_s=i, fmt=f, columns=8) for i, f in enumerate(("fit", "tcx", "gpx")))
    assert decide([tcx, fit], []).dropped["tcx"].kept_id == "fit"
    assert decide([gpx, tcx], []).dropped["gpx"].kept_id == "tcx"
    # same columns and format: more records wins
    more, fewer = cand("more", records=1800), cand("fewer", start_s=1, records=900)
    assert list(decide([fewer, more], []).dropped) == ["fewer"]


def test_a_later_richer_copy_replaces_the_landed_one():
    landed = cand("gpx", fmt="gpx", columns=6)
    d = decide([cand("fit", start_s=-20, fmt="fit", columns=20)], [landed])
    assert list(d.dropped) == ["gpx"]
    assert d.dropped["gpx"].landed and d.dropped["gpx"].kept_id == "fit"
    assert [r.candidate.activity_id for r in d.replaced] == ["gpx"]
    assert d.kept(["fit"]) == ["fit"]


def test_an_equally_rich_or_poorer_new_copy_does_not_replace_the_landed_one():
    landed = cand("fit", fmt="fit", columns=20)
    for new in (cand("again", start_s=2, fmt="fit", columns=20), cand("gpx", start_s=2, fmt="gpx", columns=6)):
        d = decide([new], [landed])
        assert list(d.dropped) == [new.activity_id]
        assert d.dropped[new.activity_id].kept_id == "fit" and d.replaced == []


def test_three_copies_keep_one():
    fit = cand("fit", fmt="fit", columns=20)
    tcx = cand("tcx", start_s=10, fmt="tcx", columns=12)
    gpx = cand("gpx", start_s=-15, fmt="gpx", columns=6)
    d = decide([gpx, tcx, fit], [])
    assert sorted(d.dropped) == ["gpx", "tcx"]
    assert {d.dropped[a].kept_id for a in d.dropped} == {"fit"}
    # one copy landed, the two others arrive later in one batch: the richest replaces it, the
    # middle one is a duplicate of the richest
    d = decide([tcx, fit], [gpx])
    assert sorted(d.dropped) == ["gpx", "tcx"]
    assert d.dropped["gpx"].landed and d.dropped["gpx"].kept_id == "fit"
    assert not d.dropped["tcx"].landed and d.dropped["tcx"].kept_id == "fit"
    # three syncs, each copy richer than the last: each replaces the one landed before
    d = decide([tcx], [gpx])
    assert [r.candidate.activity_id for r in d.replaced] == ["gpx"]
    d = decide([fit], [tcx])
    assert [r.candidate.activity_id for r in d.replaced] == ["tcx"]


def test_different_runs_are_all_kept():
    a, b = cand("a"), cand("b", start_s=3 * 3600)
    d = decide([a, b], [cand("c", start_s=6 * 3600)])
    assert d.dropped == {} and d.kept(["a", "b"]) == ["a", "b"]
