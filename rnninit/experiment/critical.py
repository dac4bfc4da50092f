"""`rnninit critical` as a library call: the recurrent gain at the edge of chaos for a
nonlinearity, a bias variance and an input (a stated variance share, or a task's inputs through
an assumed Wxh scheme), with the init spec that draws it."""

from __future__ import annotations

import math
import re
from dataclasses import asdict

from ..core.critical import critical_gain, scheme_gain
from ..core.inits import SCHEMES, parse_init
from ..core.names import suggest
from ..core.nonlinearities import NONLINEARITIES
from ..core.tasks import TASKS
from ..errors import RnnInitError
from .schemes import check_var, task_input_norm, task_input_var

DEFAULT_HIDDEN = 128  # H for the schemes whose variance depends on it (the config's default)
WHH_SCHEME = "xavier"  # the spec's Whh scheme: N(0, 1/fan_in), so s_w2 = gain^2
ALSO = ("orthogonal", "he")  # other Whh schemes the spec is shown for
COMPARE_FACTORS = (0.9, 1.0, 1.1)  # the compare line's gains, as factors on the critical one
BIAS_SCHEME = "small"  # N(0, (0.01 gain)^2): any bias variance V at gain sqrt(V) / 0.01


def check_nonlinearity(name: str) -> str:
    if name not in NONLINEARITIES:
        raise RnnInitError(f"--nonlinearity: unknown nonlinearity {name!r}"
                           f"{suggest(name, NONLINEARITIES)}; allowed: {', '.join(NONLINEARITIES)}")  # fmt: skip
    return name


def check_hidden(hidden_size: int, flag: str = "--hidden-size") -> int:
    if not (isinstance(hidden_size, int) and hidden_size >= 1):
        raise RnnInitError(f"{flag}: expected a positive integer, got {hidden_size!r}")
    return hidden_size


def input_share(
    task: str | None = None,
    input_var: float | None = None,
    wxh: str = "xavier",
    hidden_size: int = DEFAULT_HIDDEN,
) -> dict:
    """The input's share u of each pre-activation's variance per step: stated, or a task's.

    With a task, u = I Var(Wxh entry) x_sq: x_sq = mean ||x_t||^2 / I of the task's inputs
    (``task_input_norm``) and Var(Wxh entry) that of the scheme ``wxh`` ("SCHEME" or
    "SCHEME:GAIN", as in an init spec) for a (hidden_size, I) matrix.

    Returns:
        {"input_var": u, "source": "none" | "stated" | "task", "task": task_input_norm's dict
        or None, "wxh": the Wxh spec or None, "s_u2": I Var(Wxh entry) or None}.

    Raises:
        RnnInitError: both a task and input_var, an unknown task, a bad variance, a Wxh scheme
            that is unknown or not zero-mean (the theory needs zero-mean weights).
    """
    if task is not None and input_var is not None:
        raise RnnInitError(
            "--input-var, --task: the task sets the input variance; give one, not both"
        )
    if task is None:
        u = check_var(0.0 if input_var is None else input_var, "--input-var")
        return {"input_var": u, "source": "stated" if u > 0 else "none", "task": None,
                "wxh": None, "s_u2": None}  # fmt: skip
    if task not in TASKS:
        raise RnnInitError(f"--task: unknown task {task!r}{suggest(task, TASKS)}; "
                           f"allowed: {', '.join(TASKS)}")  # fmt: skip
    scheme, gain = _wxh_scheme(wxh)
    norm = task_input_norm(task)
    u = task_input_var(norm, scheme, gain, hidden_size)
    return {"input_var": u, "source": "task", "task": norm, "wxh": wxh.strip(),
            "s_u2": u / norm["x_sq"] if norm["x_sq"] > 0 else 0.0}  # fmt: skip


def _wxh_scheme(text: str) -> tuple[str, float]:
    """(scheme, gain) of a --wxh "SCHEME[:GAIN]", read by the init parser."""
    if not isinstance(text, str) or "," in text or "=" in text:
        raise RnnInitError(f"--wxh: expected SCHEME or SCHEME:GAIN (e.g. xavier:0.5), got {text!r}")
    try:
        scheme, gain = parse_init(f"Wxh={text}", where="--wxh").per_param["Wxh"]
    except RnnInitError as e:  # "--wxh.Wxh.scheme: unknown scheme ..." -> "--wxh: ..."
        raise RnnInitError(re.sub(r"^--wxh\.Wxh(\.\w+)?", "--wxh", str(e))) from None
    if not SCHEMES[scheme].zero_mean:
        raise RnnInitError(f"--wxh: the theory needs zero-mean input weights, and {scheme!r} "
                           f"draws {SCHEMES[scheme].formula}; choose a zero-mean scheme")  # fmt: skip
    return scheme, gain


def init_specs(s_w2: float, bias_var: float, drive: dict, hidden_size: int) -> dict:
    """The init that draws the solved recurrence: a compact spec (a compare arm, or
    init=SPEC), KEY=VALUE overrides (train, compare), compare arms at 0.9x, 1x and 1.1x the
    gain (COMPARE_FACTORS) and the same s_w2 for each Whh scheme of ``ALSO``."""
    H = hidden_size
    gain = scheme_gain(WHH_SCHEME, s_w2, H)
    others = {}
    if bias_var > 0:
        others["bh"] = (
            BIAS_SCHEME,
            math.sqrt(bias_var / SCHEMES[BIAS_SCHEME].moments((H,), 1.0, H)[1]),
        )
    if drive["source"] == "task" and drive["wxh"] != "xavier":
        others["Wxh"] = _wxh_scheme(drive["wxh"])

    def compact(factor: float) -> str:
        parts = {"Whh": (WHH_SCHEME, gain * factor), **others}
        return ",".join(f"{k}={s}:{_g(g)}" for k, (s, g) in parts.items())

    parts = {"Whh": (WHH_SCHEME, gain), **others}
    overrides = " ".join(f"init.{k}={s}:{_g(g)}" for k, (s, g) in parts.items())
    also = {s: f"Whh={s}:{_g(scheme_gain(s, s_w2, H))}" for s in ALSO}
    return {"compact": compact(1.0), "overrides": overrides, "also": also,
            "compare": " ".join(compact(f) for f in COMPARE_FACTORS),
            "bias": f"{BIAS_SCHEME}:{_g(others['bh'][1])}" if "bh" in others else None}  # fmt: skip


def _g(gain: float) -> str:
    """A gain as pasted: 6 significant digits keep chi* within ~1e-5 of 1."""
    return f"{gain:.6g}"


def critical_report(
    nonlinearity: str = "tanh",
    bias_var: float = 0.0,
    input_var: float | None = None,
    task: str | None = None,
    wxh: str = "xavier",
    hidden_size: int = DEFAULT_HIDDEN,
) -> dict:
    """The critical gain (``core.critical.critical_gain``) for a nonlinearity, a bias variance
    and an input share (``input_share``), with the init specs that draw it.

    Returns:
        critical_gain's fields as a dict ("gain" None where none exists, "reason" says why),
        plus "drive" (``input_share``'s dict), "hidden_size" and "specs" (``init_specs``, with
        "context": the task.name and model.nonlinearity overrides the pasted commands need;
        None without a critical gain).

    Raises:
        RnnInitError: an unknown nonlinearity or task, a bad variance, --task with --input-var.
    """
    check_nonlinearity(nonlinearity)
    check_hidden(hidden_size)
    bias_var = check_var(bias_var, "--bias-var")
    drive = input_share(task, input_var, wxh, hidden_size)
    result = asdict(critical_gain(nonlinearity, bias_var, drive["input_var"]))
    result["nearby"] = list(result["nearby"])
    specs = None
    if result["s_w2"] is not None:
        specs = init_specs(result["s_w2"], bias_var, drive, hidden_size)
        # what else the solved gain assumed, for the pasted commands: the run's task and phi
        specs["context"] = " ".join(
            ([f"task.name={task}"] if task is not None else [])
            + ([f"model.nonlinearity={nonlinearity}"] if nonlinearity != "tanh" else [])
        )
    return {**result, "drive": drive, "hidden_size": hidden_size, "specs": specs}
