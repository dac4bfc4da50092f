"""The inits of a compare (its arms), resolved against the config's init (DESIGN section 6).

A scheme or preset name (``xavier``, ``keras_default``) replaces the whole init: that is what
``rnninit compare xavier uniform`` means. Any other arm, a per-matrix string (``Whh=identity``,
``Whh=orthogonal:1.1,Wxh=he``) or a mapping, changes only the matrices it names and keeps every
other matrix (scheme and gain) and ``spectral_radius`` from the config's init; an arm that names
``default`` sets every matrix, so it replaces the whole init too. A merged arm is recorded as an
explicit mapping of every matrix, so that each run's config.yaml says exactly what it drew.

A labelled arm, ``"irnn: init.Whh=identity model.nonlinearity=relu"``, is a label before a
colon and then KEY=VALUE overrides of the base config, applied with ``apply_overrides`` (so an
``init.Whh=...`` override edits the config's init just as the per-matrix arm ``Whh=...``
does). Only keys that keep the arms comparable may vary: every arm sees the same batches
(``task.*``, ``seed``, ``train.batch_size``), runs the same number of steps towards the same
targets (``train.steps``, ``train.target_loss``, ``train.target_acc``), and is named and filed
by the compare (``name``, ``log.*``). The colon comes before any ``=`` only in this form: a
per-matrix arm (``Whh=orthogonal:1.1``) has its ``=`` first and a scheme or preset name has no
colon.
"""

from __future__ import annotations

import shlex

from ..core.initspec import InitSpec, parse_init
from ..errors import RnnInitError
from .config import NAME_RE, Config, apply_overrides, init_mapping

RADIUS = "spectral_radius"
LABEL_RULE = "1-48 characters of A-Z a-z 0-9 _ . -, not starting with '.'"
SAME_BATCHES = "every arm must see the same batches (task.*, seed and train.batch_size)"
SAME_RACE = ("every arm runs the same number of steps towards the same target loss and target "
             "accuracy, so steps to target and speed-ups compare like with like")  # fmt: skip
# Keys a labelled arm may not set (a prefix ending in '.' stands for a section), and why.
SHARED = {"task.": SAME_BATCHES, "seed": SAME_BATCHES, "train.batch_size": SAME_BATCHES,
          "train.steps": SAME_RACE, "train.target_loss": SAME_RACE, "train.target_acc": SAME_RACE,
          "name": "the compare names each run LABEL-sSEED",
          "log.": "the compare writes every run alike into one compare folder"}  # fmt: skip


def arm_text(arm: str | dict) -> str:
    """An arm as the command line writes it: ``{"Whh": {"scheme": "orthogonal", "gain": 1.1}}``
    becomes ``'Whh=orthogonal:1.1'`` (a mapping is checked with parse_init before this)."""
    if isinstance(arm, str):
        return arm.strip()
    items = []
    for key, value in arm.items():
        if isinstance(value, dict):  # {scheme, gain} or a gate bias's {scheme, t_max | value}
            after = [v for k, v in value.items() if k != "scheme" and v is not None]
            value = value["scheme"] + (f":{after[0]}" if after else "")
        items.append(f"{key}={value}")
    return ",".join(items)


def named(text: str) -> set[str]:
    """The keys a per-matrix arm names: ``'Whh=orthogonal:1.1,Wxh=he'`` -> ``{'Whh', 'Wxh'}``."""
    return {item.partition("=")[0].strip() for item in text.split(",")} if "=" in text else set()


def replaces_whole(text: str) -> bool:
    """True for an arm that sets every matrix: a scheme or preset name, or one naming default."""
    return "=" not in text or "default" in named(text)


def resolve_arm(text: str, base_init, where: str, cell: str = "rnn") -> str | dict:
    """The init one arm runs with, merged onto the config's init as the module docstring says.

    Args:
        text: the arm, as ``arm_text`` writes it.
        base_init: the config's init (a name, a compact string or a mapping).
        where: names the arm in error messages.
        cell: the config's model.cell, whose parameters the arm may name.

    Returns:
        A scheme or preset name as given; otherwise an explicit mapping of every matrix.

    Raises:
        RnnInitError: a bad arm, or a merge parse_init refuses (a zeros Whh with a radius).
    """
    spec = parse_init(text, where, cell=cell)
    if "=" not in text:
        return text
    if not replaces_whole(text):
        keys, now = named(text), parse_init(base_init, "init", cell=cell)
        per_param = {
            p: spec.per_param[p] if p in keys else kept for p, kept in now.per_param.items()
        }
        # a named matrix is replaced whole: its gate overrides and gate-bias parameter go too
        kept_gates = {k: v for k, v in now.per_gate.items() if k.partition(".")[0] not in keys}
        per_gate = {**kept_gates, **spec.per_gate}
        args = {p: a for p, a in now.args.items() if p not in keys}
        args.update({p: a for p, a in spec.args.items() if p in keys})
        radius = spec.spectral_radius if RADIUS in keys else now.spectral_radius
        merged = InitSpec(per_param, radius, per_gate, args)
        spec = parse_init(init_mapping(merged), where, cell=cell)
    return init_mapping(spec)


def resolved_record(init, cell: str = "rnn") -> dict:
    """What an init resolves to, per matrix ``{scheme, gain}`` (a gate bias with its ``arg``),
    then each gate override (``Whh.f``), plus ``spectral_radius``."""
    spec = parse_init(init, cell=cell)
    per_param = {p: {"scheme": s, "gain": g} for p, (s, g) in spec.per_param.items()}
    for p, arg in spec.args.items():  # a gate bias's T_max or V (None: the sequence length)
        per_param[p]["arg"] = arg
    per_gate = {k: {"scheme": s, "gain": g} for k, (s, g) in spec.per_gate.items()}
    return {**per_param, **per_gate, RADIUS: spec.spectral_radius}


def describe(per_param: dict, radius: float | None) -> dict[str, str | None]:
    """Short text per matrix, ``'identity'`` or ``'small:0.1'`` (scheme:gain), and the radius,
    from a run summary's ``init`` and ``spectral_radius_target``."""
    out = {p: v["scheme"] + ("" if v["gain"] == 1.0 else f":{v['gain']:.6g}")
           + ("" if v.get("arg") is None else f":{v['arg']:.6g}")
           for p, v in per_param.items()}  # fmt: skip
    out[RADIUS] = None if radius is None else f"{radius:.6g}"
    return out


def check_init_overrides(arms: list[str], overrides: list[str]) -> None:
    """Refuse an ``init...`` override that would not reach the arms, instead of dropping it.

    Overrides edit the config's init before the arms merge onto it (as the config file would).
    An arm that replaces the whole init would drop such an override, and one whose matrix every
    arm sets itself changes nothing: both are refused with one line.
    """
    reach = {arm: _reach(arm) for arm in arms}
    for token in overrides:
        parts = token.split("=", 1)[0].strip().split(".")
        if parts[0] != "init":
            continue
        whole = next((arm for arm, (replaces, _) in reach.items() if replaces), None)
        if whole is not None:
            example, by = "", f"arm '{whole}'" if is_labelled(whole) else f"init '{whole}'"
            if "=" not in whole and ":" not in whole and len(parts) == 2 and "=" in token:
                example = (
                    f" (e.g. {whole} becomes default={whole},{parts[1]}={token.split('=', 1)[1]})"
                )
            raise RnnInitError(
                f"compare: override '{token}' would be dropped by {by}, which replaces "
                f"the whole init; write the change into each init{example}, or compare per-matrix "
                "inits such as Whh=identity Whh=xavier, which merge onto the overridden init"
            )
        key = parts[1] if len(parts) > 1 else "default"
        if key != "default" and all(key in names for _, names in reach.values()):
            raise RnnInitError(
                f"compare: override '{token}' changes no init: every init sets {key} itself"
            )


# ---------------------------------------------------------------------------------------------
# Labelled arms: "LABEL: KEY=VALUE ..."
# ---------------------------------------------------------------------------------------------
def is_labelled(arm) -> bool:
    """True for ``'irnn: init.Whh=identity'``: a colon before any '='."""
    return isinstance(arm, str) and ":" in arm and "=" not in arm.partition(":")[0]


def parse_labelled(text: str) -> tuple[str, list[str]]:
    """(label, overrides) of a labelled arm, refusing what would make it ambiguous.

    Raises:
        RnnInitError: a label that cannot name a run, a word that is not KEY=VALUE (a bare init
            such as ``xavier`` or ``Whh=identity`` inside the arm: the message says how to write
            it as a key), or a key every arm must share (``SHARED``), each with its reason.
    """
    label, _, rest = text.partition(":")
    label, where = label.strip(), f"compare arm '{text.strip()}'"
    if not (NAME_RE.fullmatch(label) and len(label) <= 48 and not label.startswith(".")):
        raise RnnInitError(f"{where}: label '{label}': expected {LABEL_RULE}")
    try:
        tokens = shlex.split(rest)
    except ValueError as e:
        raise RnnInitError(f"{where}: {e}") from None
    for token in tokens:
        key, eq, value = token.partition("=")
        if not eq or not key:
            raise RnnInitError(f"{where}: '{token}' is not KEY=VALUE{_as_key(token)}")
        if "." not in key and key not in ("name", "seed", "init") and _as_key(token):
            raise RnnInitError(f"{where}: '{token}' is a bare init, not KEY=VALUE of the config"
                               f"{_as_key(token)}")  # fmt: skip
        for prefix, why in SHARED.items():
            if key == prefix or prefix.endswith(".") and f"{key}.".startswith(prefix):
                raise RnnInitError(
                    f"{where}: an arm may not set {key}: {why}; set it once, outside the arms"
                )
    return label, tokens


def _as_key(token: str) -> str:
    """How a bare init reads inside a labelled arm: 'Whh=orthogonal:1.1' -> init.Whh=orthogonal:1.1,
    'xavier' -> init=xavier ('' when the token is no init at all)."""
    try:
        parse_init(token)
    except RnnInitError:
        return "; write KEY=VALUE, e.g. model.nonlinearity=relu" if "=" not in token else ""
    if "=" not in token:
        return f"; inside a labelled arm write init={token}"
    keys = [f"init.{key.strip()}={value.strip()}"
            for key, _, value in (item.partition("=") for item in token.split(","))]  # fmt: skip
    return f"; inside a labelled arm write {' '.join(keys)}"


def labelled_config(base: Config, label: str, overrides: list[str]) -> Config:
    """The config a labelled arm runs with: its overrides applied to the base config (every
    validation message names the arm), the init recorded as a name or an explicit mapping of
    every matrix, as a merged per-matrix arm is."""
    cfg = apply_overrides(base, overrides, source=f"compare arm '{label}': override")
    init = cfg.init
    if not (isinstance(init, str) and "=" not in init):
        init = init_mapping(parse_init(init, "init", cell=cfg.model.cell))
    return cfg.updated({"init": init}, source=f"compare arm '{label}'")


def _reach(arm: str) -> tuple[bool, set[str]]:
    """(whether the arm replaces the whole init, the matrices it sets itself)."""
    if not is_labelled(arm):
        return replaces_whole(arm), named(arm)
    keys = [token.partition("=")[0].split(".") for token in parse_labelled(arm)[1]]
    names = {k[1] for k in keys if k[0] == "init" and len(k) > 1 and k[1] != "default"}
    return ["init"] in keys, names
