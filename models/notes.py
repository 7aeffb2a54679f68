"""Fixed wording footfall shows beside its flags, written once (SCIENCE.md s5).

``BONE_STRESS_NOTE`` is printed by ``footfall flags`` and shown in the report wherever the pain
rules and load flags are: pain-monitored loading (Silbernagel et al. 2007) is a model for
tendinopathy, not for a suspected bone stress injury, which needs a clinician.
"""

from __future__ import annotations

BONE_STRESS_NOTE = (
    "Safety note: pain-monitored loading is not for a suspected bone stress injury. Forefoot pain "
    "in runners is often a metatarsal bone stress injury: focal bony tenderness, pain at night or "
    "at rest, or pain on hopping need a clinician, and such injuries are usually progressed "
    "pain-free, not by pain monitoring. footfall diagnoses nothing."
)

#: How footfall describes what its load flags are about (README, report, CLI help).
FLAGS_ABOUT = (
    "loading spikes linked to injury risk in studies, relative to your own recent runs; "
    "the severity names order attention, not the probability of injury"
)
