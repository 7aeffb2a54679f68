"""``python -m pipelines.cli``: the ``footfall`` command."""

from pipelines.cli import main

main()
