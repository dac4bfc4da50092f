"""'Did you mean' for a misspelt name: one rule (difflib, cutoff 0.6) behind every message."""

from __future__ import annotations

import difflib


def suggest(given, choices, cutoff=0.6) -> str:
    """The hint ` (did you mean 'x'?)` for the choice closest to `given`, or '' when none is close."""
    close = difflib.get_close_matches(str(given), list(choices), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def closest(given, choices, cutoff=0.6) -> str | None:
    """The choice closest to `given`, or None when none is close (for messages worded otherwise)."""
    close = difflib.get_close_matches(str(given), list(choices), n=1, cutoff=cutoff)
    return close[0] if close else None
