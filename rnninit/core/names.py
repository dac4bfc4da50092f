"""The one "did you mean" helper of the package, for every message that refuses a name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(given, choices: Iterable) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices`` to ``given``, or ``""``.

    Closeness is difflib's ratio with cutoff 0.6; ``given`` is compared as ``str(given)``, so a
    number or None never raises. Append the result to a message: ``f"unknown {x!r}{suggest(x, names)}"``.
    """
    close = difflib.get_close_matches(str(given), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
