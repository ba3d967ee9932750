"""Logging for entry points (CLI, components, server). Library modules only call getLogger."""

from __future__ import annotations

import logging
import os
import sys


def configure_logging(level: str = "INFO") -> None:
    """Rich console logs on a terminal, plain timestamped lines otherwise (KFP/KServe log collectors)."""
    level = os.environ.get("PATHREASONER_LOG_LEVEL", level).upper()
    root = logging.getLogger()
    if getattr(root, "_pathreasoner_configured", False):
        root.setLevel(level)
        return
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "httpx", "filelock", "matplotlib", "PIL", "alembic", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    root._pathreasoner_configured = True  # type: ignore[attr-defined]
