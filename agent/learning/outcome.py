"""What an adaptation came to, in the owner's words: the CLI and the dashboard say the same sentence.

An adaptation (``agent.learning.service.adapt_model``) records a new version only when what the hub runs
changes; otherwise it says which version runs on, and why nothing changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def version_name(version: int) -> str:
    """``version 3``, or ``version 0 (as shipped)``."""
    return "version 0 (as shipped)" if version == 0 else f"version {version}"


def said(adaptation: Mapping[str, Any]) -> str:
    """One sentence: the version an adaptation recorded, or which one runs on and why nothing changed."""
    name = adaptation["model"]
    running = adaptation["running"]
    if adaptation["adapted"]:
        return f"{name} v{adaptation['version']}: kept — {adaptation['card']['reason']}"
    was = adaptation.get("was_running", running)
    if was != running:
        return f"{name} runs as shipped (version 0) again, no longer version {was}: {adaptation['reason']}"
    return f"{name}: kept {version_name(running)}: {adaptation['reason']}"
