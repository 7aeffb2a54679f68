"""A progress hook the CLI sets (a rich progress bar) and the sync flow calls; no-op by default.

The flow runs in the CLI's own process, so a module-level hook reaches it without passing a
callable through Prefect's parameters.
"""

from __future__ import annotations

from collections.abc import Callable

_hook: Callable[[str, int, int | None], None] | None = None


def set_hook(hook: Callable[[str, int, int | None], None] | None) -> None:
    """hook(stage, advance, total): stage 'sources' | 'files' | 'models'."""
    global _hook
    _hook = hook


def report(stage: str, advance: int = 1, total: int | None = None) -> None:
    if _hook is not None:
        _hook(stage, advance, total)
