"""CLI commands for analysis: registered onto the main Typer app by ``register``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    return None
