"""A flag's value and threshold in the unit its message speaks (issue 15, point 7).

The ``flags`` mart stores ``value`` and ``threshold`` in the threshold's unit from
models/thresholds.py (``unit``: "fraction over baseline", "percent", "ratio", "m", ...); the
messages speak percent, km and /10. ``measure_text`` writes the pair the way the message does, so
a spike whose message says "125% longer" shows "125% > 100% over baseline", not "1.25, threshold 1".
Used by ``footfall flags`` (pipelines/cli/common.print_flags) and the report's flag table.
Pure: no I/O.
"""

from __future__ import annotations

import math


def _pct(x: float, other: float, comparison: str) -> str:
    """``x`` percent, whole unless rounding would make it look not beyond ``other``."""
    whole = round(x)
    hides = whole == round(other) or (comparison == ">" and whole <= other) or (comparison == ">=" and whole < other)
    return f"{x:.1f}%" if hides and not float(x).is_integer() else f"{whole:.0f}%"


def _g(x: float) -> str:
    return f"{x:g}"


def measure_text(value, threshold, unit: str | None, comparison: str | None = ">") -> str:
    """"<value> <comparison> <threshold> <unit>" in the message's unit; "-" without a value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    comp = comparison or ">"
    unit = (unit or "").strip()
    v = float(value)
    t = None if threshold is None else float(threshold)
    if unit.startswith("fraction"):  # 0.25 = 25%
        rest = unit[len("fraction"):].strip()
        vs = _pct(v * 100, (t or 0) * 100, comp)
        ts = "?" if t is None else _pct(t * 100, t * 100, comp)
        return f"{vs} {comp} {ts}" + (f" {rest}" if rest else "")
    if unit in ("percent", "%"):
        vs = _pct(v, t or 0, comp)
        ts = "?" if t is None else _pct(t, t, comp)
        return f"{vs} {comp} {ts}"
    if unit == "ratio":
        return f"{v:.2f} {comp} " + ("?" if t is None else f"{t:.2f}")
    if unit == "score 0-10":
        return f"{_g(v)}/10 {comp} " + ("?" if t is None else f"{_g(t)}/10")
    if unit == "score points":
        return f"{v:+.1f} {comp} " + ("?" if t is None else f"{t:+g}") + " points"
    if unit == "m":  # messages speak km
        return f"{v / 1000:.1f} km {comp} " + ("?" if t is None else f"{t / 1000:g} km")
    if unit.startswith("days"):
        return f"{_g(v)} {comp} " + ("?" if t is None else _g(t)) + f" {unit}"
    return f"{v:.3g} {comp} " + ("?" if t is None else f"{t:.3g}") + (f" {unit}" if unit else "")
