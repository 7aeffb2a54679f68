"""A progress hook the CLI sets (a rich progress bar) and the sync flow calls; no-op by default.

The flow runs in the CLI's own process, so a module-level hook reaches it without passing a
callable through Prefect's parameters. ``notice`` says what the sync is waiting for (another
process holding the database: ``pipelines.db.connect``), so a wait does not look like a hang.
"""

from __future__ import annotations

from collections.abc import Callable

_hook: Callable[[str, int, int | None], None] | None = None
_notice: Callable[[str, str | None], None] | None = None


def set_hook(hook: Callable[[str, int, int | None], None] | None) -> None:
    """hook(stage, advance, total): stage 'sources' | 'files' | 'models'."""
    global _hook
    _hook = hook


def report(stage: str, advance: int = 1, total: int | None = None) -> None:
    if _hook is not None:
        _hook(stage, advance, total)


def set_notice_hook(hook: Callable[[str, str | None], None] | None) -> None:
    """hook(kind, text): kind 'waiting'; text what to show, None when it is over."""
    global _notice
    _notice = hook


def notice(kind: str, text: str | None) -> None:
    if _notice is not None:
        _notice(kind, text)
