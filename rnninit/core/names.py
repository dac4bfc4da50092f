"""The one "did you mean" helper of the package, for every message that refuses a name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(given, choices: Iterable, cutoff: float = 0.6) -> str | None:
    """The choice closest to ``given`` (difflib's ratio, at least ``cutoff``), or None.

    ``given`` is compared as ``str(given)``, so a number or None never raises.
    """
    close = difflib.get_close_matches(str(given), [str(c) for c in choices], n=1, cutoff=cutoff)
    return close[0] if close else None


def suggest(given, choices: Iterable, cutoff: float = 0.6) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices`` to ``given``, or ``""``.

    Append it to a message: ``f"unknown {x!r}{suggest(x, names)}"``.
    """
    close = closest(given, choices, cutoff)
    return f" (did you mean {close!r}?)" if close else ""
