"""The inits of a compare (its arms), resolved against the config's init (DESIGN section 6).

A scheme or preset name (``xavier``, ``keras_default``) replaces the whole init: that is what
``rnninit compare xavier uniform`` means. Any other arm, a per-matrix string (``Whh=identity``,
``Whh=orthogonal:1.1,Wxh=he``) or a mapping, changes only the matrices it names and keeps every
other matrix (scheme and gain) and ``spectral_radius`` from the config's init; an arm that names
``default`` sets every matrix, so it replaces the whole init too. A merged arm is recorded as an
explicit mapping of every matrix, so that each run's config.yaml says exactly what it drew.
"""

from __future__ import annotations

from ..core.inits import InitSpec, parse_init
from ..errors import RnnInitError
from .config import init_mapping

RADIUS = "spectral_radius"


def arm_text(arm: str | dict) -> str:
    """An arm as the command line writes it: ``{"Whh": {"scheme": "orthogonal", "gain": 1.1}}``
    becomes ``'Whh=orthogonal:1.1'`` (a mapping is checked with parse_init before this)."""
    if isinstance(arm, str):
        return arm.strip()
    items = []
    for key, value in arm.items():
        if isinstance(value, dict):
            value = value["scheme"] + (f":{value['gain']}" if "gain" in value else "")
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
        radius = spec.spectral_radius if RADIUS in keys else now.spectral_radius
        spec = parse_init(init_mapping(InitSpec(per_param, radius)), where, cell=cell)
    return init_mapping(spec)


def resolved_record(init, cell: str = "rnn") -> dict:
    """What an init resolves to, per matrix ``{scheme, gain}``, plus ``spectral_radius``."""
    spec = parse_init(init, cell=cell)
    per_param = {p: {"scheme": s, "gain": g} for p, (s, g) in spec.per_param.items()}
    return {**per_param, RADIUS: spec.spectral_radius}


def describe(per_param: dict, radius: float | None) -> dict[str, str | None]:
    """Short text per matrix, ``'identity'`` or ``'small:0.1'`` (scheme:gain), and the radius,
    from a run summary's ``init`` and ``spectral_radius_target``."""
    out = {p: v["scheme"] + ("" if v["gain"] == 1.0 else f":{v['gain']:.6g}")
           for p, v in per_param.items()}  # fmt: skip
    out[RADIUS] = None if radius is None else f"{radius:.6g}"
    return out


def check_init_overrides(arms: list[str], overrides: list[str]) -> None:
    """Refuse an ``init...`` override that would not reach the arms, instead of dropping it.

    Overrides edit the config's init before the arms merge onto it (as the config file would).
    An arm that replaces the whole init would drop such an override, and one whose matrix every
    arm sets itself changes nothing: both are refused with one line.
    """
    for token in overrides:
        parts = token.split("=", 1)[0].strip().split(".")
        if parts[0] != "init":
            continue
        whole = next((a for a in arms if replaces_whole(a)), None)
        if whole is not None:
            example = ""
            if "=" not in whole and len(parts) == 2 and "=" in token:
                example = (
                    f" (e.g. {whole} becomes default={whole},{parts[1]}={token.split('=', 1)[1]})"
                )
            raise RnnInitError(
                f"compare: override '{token}' would be dropped by init '{whole}', which replaces "
                f"the whole init; write the change into each init{example}, or compare per-matrix "
                "inits such as Whh=identity Whh=xavier, which merge onto the overridden init"
            )
        key = parts[1] if len(parts) > 1 else "default"
        if key != "default" and all(key in named(a) for a in arms):
            raise RnnInitError(
                f"compare: override '{token}' changes no init: every init sets {key} itself"
            )
