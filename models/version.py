"""The version of footfall's derivation rules (decoding + ``models/`` metrics and checks).

Recorded per file (``files.derive_version``, migration 008). Bump it when a change to the rules
should reach activities landed before it: the next sync reads every landed file with an older
(or NULL) version again and replaces its activity rows, keeping their ids
(``pipelines/land.py`` ``_rederive``). Pure constant: no imports.

History: 1 (implicit, NULL in the database) before issue 13; 2 the data-quality layer (track
cleaning, one distance with a reason, sport decided with evidence, running-only averages,
``activity_checks``).
"""

DERIVE_VERSION = 2
