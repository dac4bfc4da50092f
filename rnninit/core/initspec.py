"""Init specs (DESIGN section 4): ``parse_init`` reads what a user writes (a scheme or preset
name, ``PARAM=SCHEME[:GAIN]`` pairs, or a mapping per matrix) into an ``InitSpec``, a scheme and
a gain for every parameter of a cell, refusing anything else with one line that names the key.

Also here: the validation helpers (gains, gate-bias arguments, scheme names per parameter),
the keys a mapping accepts (``mapping_keys``) and the way back from a spec to the mapping that
reads to it (``spec_mapping``, ``scheme_of``).

Pure Python and NumPy: no printing, no files, no rich/typer/yaml.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import RnnInitError
from .cells import Cell, ParamSpec, get_cell
from .draws import GAINS, MATRIX_ONLY, SCHEMES, SOLVED
from .gate_bias import GATE_BIASES, keep_gates
from .names import suggest
from .presets import PRESETS, preset_schemes, scheme_gain


@dataclass(frozen=True)
class InitSpec:
    """A resolved init.

    Attributes:
        per_param: every parameter of the cell (for ``rnn``: PARAM_NAMES) -> (scheme name, gain
            as a positive float). The scheme is one of ``SCHEMES`` or, for a gated bias, of
            ``GATE_BIASES`` (gain 1.0, its parameter in ``args``).
        spectral_radius: if set, Whh is rescaled after drawing so that max |eig(Whh)| equals it.
        per_gate: gate-block overrides, ``"Whh.f" -> (scheme, gain)``: that block is drawn with
            its own scheme; the parameter's other blocks keep ``per_param``'s.
        args: a gate-bias scheme's parameter per bias, ``"bh" -> T_max or V`` (chrono's T_max
            None: the task's sequence length, ``init_params(seq_len=...)``).
    """

    per_param: dict[str, tuple[str, float]]
    spectral_radius: float | None = None
    per_gate: dict[str, tuple[str, float]] = field(default_factory=dict)
    args: dict[str, float | None] = field(default_factory=dict)


# --- parsing ------------------------------------------------------------------------------------


def _number(value) -> float | None:
    """A finite float from a number or numeric text, else None (bools are not numbers)."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    numeric = isinstance(number, (int, float, np.integer, np.floating))
    if numeric and not isinstance(number, (bool, np.bool_)) and math.isfinite(number):
        return float(number)
    return None


def _positive(value, where: str, what: str) -> float:
    """A positive finite float (numeric text accepted), else RnnInitError naming `where`."""
    number = _number(value)
    if number is not None and number > 0:
        return number
    raise RnnInitError(f"{where}: expected {what}, got {value!r}")


def parse_gain(value, where: str) -> float:
    """A gain: a positive finite number or the name of a nonlinearity in GAINS."""
    if isinstance(value, str) and value in GAINS:
        return GAINS[value]
    try:
        return _positive(value, where, f"a positive number or one of {', '.join(GAINS)}")
    except RnnInitError as e:
        hint = suggest(value, GAINS) if isinstance(value, str) else ""
        raise RnnInitError(f"{e}{hint}") from None


def parse_gate_arg(value, where: str, scheme: str):
    """A gate-bias scheme's parameter (chrono's T_max may be None: the task's sequence length)."""
    gb = GATE_BIASES[scheme]
    if value is None and gb.default is None:
        return None
    number = _number(value)
    if number is None or (gb.minimum is not None and not number > gb.minimum):
        raise RnnInitError(f"{where}: expected {gb.arg_rule} for {scheme}'s {gb.arg}, "
                           f"got {value!r}")  # fmt: skip
    return number


def _allowed_for(p: ParamSpec, block: bool, cell: Cell) -> list[str]:
    """The scheme names a parameter (or one gate block of it) accepts."""
    names = [n for n, s in SCHEMES.items()
             if (p.role != "bias" or n not in MATRIX_ONLY) and not (block and s.whole_of)]  # fmt: skip
    if p.role == "bias" and not block and keep_gates(p.gates):
        names += list(GATE_BIASES)
    if cell.has_mean_field and not block:
        names += [n for n, s in SOLVED.items() if s.role == p.role]
    return names


def _solved_name(value: str, where: str, p: ParamSpec, cell: Cell, allowed: str) -> str:
    """A solved scheme (``critical``) where it applies: the whole parameter of its role, in a
    cell the mean-field theory describes."""
    s = SOLVED[value]
    if not cell.has_mean_field:
        raise RnnInitError(f"{where}: scheme {value!r} solves the gain by the vanilla cell's "
                           f"mean-field theory, and cell {cell.name!r} has none (its gates change "
                           f"the recurrence); choose a fixed scheme, e.g. {p.name}=orthogonal")  # fmt: skip
    if p.role != s.role:
        (W,) = cell.names_with_role(s.role)
        raise RnnInitError(f"{where}: scheme {value!r} solves the {s.role} weight's gain and "
                           f"{p.name} is the {p.role} {'bias' if p.role == 'bias' else 'weight'}: "
                           f"write {W}={value}; allowed: {allowed}")  # fmt: skip
    return value


def _scheme_name(value, where: str, p: ParamSpec, cell: Cell, block: bool = False) -> str:
    """A scheme name that suits `p`: orthogonal and identity need a matrix, a gate-bias scheme
    a whole bias with a forget (f) or update (z) gate block, a ``_whole`` variant a whole
    parameter (not one gate block), a solved scheme the parameter of its role."""
    if not isinstance(value, str):
        raise RnnInitError(f"{where}: expected a scheme name, got {value!r}")
    allowed = ", ".join(_allowed_for(p, block, cell))
    if value in SOLVED:
        return _solved_name(value, where, p, cell, allowed)
    if value in GATE_BIASES:
        if p.role != "bias":
            why = f"{p.name} is a matrix"
        elif block:
            why = f"it sets the whole bias: write {p.name}={value}"
        elif not keep_gates(p.gates):
            why = f"{p.name} has no forget (f) or update (z) gate block"
        else:
            return value
        raise RnnInitError(f"{where}: scheme {value!r} sets a gate bias and {why}; "
                           f"allowed: {allowed}")  # fmt: skip
    if value not in SCHEMES:
        names = [*SCHEMES, *GATE_BIASES, *SOLVED]
        raise RnnInitError(f"{where}: unknown scheme {value!r}{suggest(value, names)}; "
                           f"allowed: {allowed}")  # fmt: skip
    if p.role == "bias" and value in MATRIX_ONLY:
        raise RnnInitError(f"{where}: scheme {value!r} needs a matrix and {p.name} is a 1-D bias; "
                           f"allowed: {allowed}")  # fmt: skip
    if block and SCHEMES[value].whole_of:
        raise RnnInitError(f"{where}: scheme {value!r} draws all gate blocks in one piece: write "
                           f"{p.name}={value}; allowed: {allowed}")  # fmt: skip
    return value


def entry_value(value):
    """One parameter's value with ``NAME:ARG`` spelt out: ``"xavier:1.13"`` is ``{scheme:
    xavier, gain: 1.13}`` and ``"chrono:200"`` a gate-bias scheme's ``{scheme: chrono, t_max:
    200}``, in a mapping, an override and a compact string alike; anything else as given."""
    if not (isinstance(value, str) and ":" in value):
        return value
    scheme, _, after = (s.strip() for s in value.partition(":"))
    return {"scheme": scheme, GATE_BIASES[scheme].arg if scheme in GATE_BIASES else "gain": after}


def _param_value(value, where: str, p: ParamSpec, cell: Cell, block: bool = False):
    """(scheme, gain, gate-bias argument or None) of a name, ``NAME:ARG``, ``{scheme: NAME,
    gain: G}`` or a gate-bias ``{scheme: chrono, t_max: T}`` / ``{scheme: forget_bias, value:
    V}``."""
    value = entry_value(value)
    if isinstance(value, str):
        name = _scheme_name(value, where, p, cell, block)
        return name, 1.0, GATE_BIASES[name].default if name in GATE_BIASES else None
    if not isinstance(value, dict):
        raise RnnInitError(f"{where}: expected a scheme name or {{scheme: NAME, gain: G}}, "
                           f"got {value!r}")  # fmt: skip
    if "scheme" not in value:
        raise RnnInitError(f"{where}: missing key 'scheme', e.g. {{scheme: orthogonal, gain: 1.0}}")
    name = _scheme_name(value["scheme"], f"{where}.scheme", p, cell, block)
    keys = ["scheme", GATE_BIASES[name].arg] if name in GATE_BIASES else ["scheme", "gain"]
    if name in SOLVED and "gain" in value:
        raise RnnInitError(f"{where}.gain: {name} solves its own gain: write {p.name}={name} "
                           f"without one (or {SOLVED[name].base}:G for a fixed gain G)")  # fmt: skip
    for key in value:
        if key not in keys:
            raise RnnInitError(f"{where}.{key}: unknown key {key!r}{suggest(key, keys)}; "
                               f"allowed: {', '.join(keys)}")  # fmt: skip
    if name in GATE_BIASES:
        arg = GATE_BIASES[name].arg
        default = GATE_BIASES[name].default
        return name, 1.0, parse_gate_arg(value.get(arg, default), f"{where}.{arg}", name)
    return name, parse_gain(value.get("gain", 1.0), f"{where}.gain"), None


def _from_name(name, where: str, cell: Cell) -> tuple[dict[str, tuple[str, float]], dict]:
    """A scheme or preset name -> (every param, gate-bias arguments); a scheme goes to the
    weights, biases zeros."""
    if not isinstance(name, str):
        raise RnnInitError(f"{where}: expected a scheme or preset name, got {name!r}")
    name = name.strip()
    if name in PRESETS:  # first: 'torch_default' alone means the preset, biases drawn too
        schemes, args = preset_schemes(name, cell)
        return {param: scheme_gain(scheme) for param, scheme in schemes.items()}, args
    if name in SOLVED:
        (W,) = cell.names_with_role(SOLVED[name].role)
        raise RnnInitError(f"{where}: {name!r} solves the {SOLVED[name].role} weight's gain only: "
                           f"name that weight, e.g. init.{W}={name} (or {W}={name} in a compact "
                           "init)")  # fmt: skip
    if name in SCHEMES:
        roles = cell.param_roles
        return {p: (name if role != "bias" else "zeros", 1.0) for p, role in roles.items()}, {}
    names = list(dict.fromkeys([*SCHEMES, *PRESETS]))
    hint = (f" ({name} sets a gate bias: name the bias, e.g. bh={name})"
            if name in GATE_BIASES else suggest(name, names))  # fmt: skip
    raise RnnInitError(f"{where}: unknown scheme or preset {name!r}{hint}; "
                       f"allowed: {', '.join(names)}")  # fmt: skip


def _compact(text: str, where: str) -> dict:
    """'Whh=orthogonal:tanh,Whh.f=identity,bh=chrono:200,spectral_radius=1.1' -> the mapping."""
    mapping: dict = {}
    for item in text.split(","):
        key, eq, value = (s.strip() for s in item.partition("="))
        if not (eq and key and value):
            raise RnnInitError(f"{where}: expected PARAM=SCHEME[:GAIN] pairs separated by commas, "
                               f"got {item.strip()!r} in {text!r}")  # fmt: skip
        if key in mapping:
            raise RnnInitError(f"{where}.{key}: named twice in {text!r}")
        mapping[key] = value if key == "spectral_radius" else entry_value(value)
    return mapping


def mapping_keys(cell: str | Cell = "rnn") -> tuple[str, ...]:
    """The keys an init mapping accepts: the cell's parameters, ``PARAM.GATE`` for each gate
    block of a gated parameter (``Whh.f``), ``default``, ``spectral_radius``."""
    specs = get_cell(cell).param_specs(1, 1, 1)
    blocks = [f"{p.name}.{g}" for p in specs for g in p.gates]
    return (*(p.name for p in specs), *blocks, "default", "spectral_radius")


MAPPING_KEYS = mapping_keys("rnn")  # the vanilla cell's, kept for importers


def _check_gate_overrides(p: ParamSpec, whole: str, per_gate: dict, where: str) -> None:
    """Refuse a gate block named on its own where ``p``'s scheme ``whole`` draws that block
    itself: a gate-bias scheme its keep and write blocks, a ``_whole`` variant every block."""
    if whole in GATE_BIASES:
        keep, write = keep_gates(p.gates)
        for g in (keep, write):
            if f"{p.name}.{g}" in per_gate:
                raise RnnInitError(f"{where}.{p.name}.{g}: {p.name}={whole} sets the {g} "
                                   f"block itself; override another block, or choose another "
                                   f"scheme for {p.name}")  # fmt: skip
    base = SCHEMES[whole].whole_of if whole in SCHEMES else None
    named = [g for g in p.gates if f"{p.name}.{g}" in per_gate]
    if base and named:
        raise RnnInitError(f"{where}.{p.name}.{named[0]}: {p.name} is drawn with {whole}, all its "
                           f"gate blocks in one piece, so one block cannot take its own scheme; "
                           f"draw {p.name} block by block to name a block (e.g. "
                           f"{p.name}={base})")  # fmt: skip


def _from_mapping(spec: dict, where: str, cell: Cell) -> InitSpec:
    keys = mapping_keys(cell)
    for key in spec:
        if key not in keys:
            shown = ", ".join(k for k in keys if "." not in k)
            gated = [k for k in keys if "." in k]
            if gated:
                shown += f", PARAM.GATE ({', '.join(gated)})"
            raise RnnInitError(f"{where}.{key}: unknown matrix {key!r}{suggest(key, keys)}; "
                               f"allowed: {shown}")  # fmt: skip
    per_param, args = _from_name(spec.get("default", "xavier"), f"{where}.default", cell)
    per_gate = {}
    for p in cell.param_specs(1, 1, 1):
        if p.name in spec:
            scheme, gain, arg = _param_value(spec[p.name], f"{where}.{p.name}", p, cell)
            per_param[p.name] = (scheme, gain)
            args.pop(p.name, None)
            if scheme in GATE_BIASES:
                args[p.name] = arg
        for g in p.gates:
            key = f"{p.name}.{g}"
            if key in spec:
                scheme, gain, _ = _param_value(spec[key], f"{where}.{key}", p, cell, block=True)
                per_gate[key] = (scheme, gain)
        _check_gate_overrides(p, per_param[p.name][0], per_gate, where)
    radius = spec.get("spectral_radius")
    if radius is not None:
        radius = _positive(radius, f"{where}.spectral_radius", "a positive number")
        W = cell.recurrent_weight
        gates = {p.name: p.gates for p in cell.param_specs(1, 1, 1)}[W]
        if gates:
            raise RnnInitError(f"{where}.spectral_radius: {W} of cell {cell.name!r} stacks "
                               f"{len(gates)} gate blocks ({len(gates)}H x H) and has no spectral "
                               "radius; allowed only for a cell without gates")  # fmt: skip
        if per_param[W][0] in SOLVED:
            raise RnnInitError(f"{where}.spectral_radius: {W} is drawn with {per_param[W][0]!r}, "
                               "whose gain is solved for chi* = 1; rescaling it after drawing "
                               "would undo that: drop one of the two")  # fmt: skip
        if per_param[W][0] == "zeros":
            raise RnnInitError(f"{where}.spectral_radius: {W} is drawn with 'zeros', whose spectral "
                               f"radius 0 cannot be rescaled; choose another scheme for {W}")  # fmt: skip
    return InitSpec(per_param=per_param, spectral_radius=radius, per_gate=per_gate, args=args)


def parse_init(spec, where: str = "init", cell: str | Cell = "rnn") -> InitSpec:
    """Resolve an init spec into a scheme and a gain for every parameter.

    Accepted forms:
        - a scheme name, e.g. ``"xavier"``: that scheme for Wxh, Whh and Why at gain 1, biases
          ``zeros`` (``"torch_default"`` alone means the preset: biases drawn too);
        - a preset name: ``keras_default``, ``flax_default``, ``torch_default`` (per cell:
          keras_default sets an LSTM's forget bias to 1);
        - a compact string ``"Whh=orthogonal:tanh,Wxh=xavier,spectral_radius=1.1"``, read as
          the mapping below (``Whh.f=identity`` names one gate block, ``bh=chrono:200`` and
          ``bh=forget_bias:1`` give a gate-bias scheme its parameter after the colon);
        - a mapping with optional keys ``Wxh``, ``Whh``, ``Why``, ``bh``, ``by`` (each a scheme
          name or ``{scheme: NAME, gain: G}``, G a positive number or ``linear`` 1, ``tanh`` 5/3,
          ``relu`` sqrt(2)), ``default`` (a scheme or preset name, read as above, for the params
          the mapping does not name; ``xavier`` if absent) and ``spectral_radius`` (R > 0).
          A gated cell's keys also include ``PARAM.GATE`` (``Whh.f``: that block's own scheme)
          and its gated bias takes ``{scheme: chrono, t_max: T}`` (T > 2, or null: the task's
          sequence length) or ``{scheme: forget_bias, value: V}`` (default 1).

    Args:
        spec: one of the forms above, or an ``InitSpec`` (returned as is).
        where: the key path that prefixes every error message, e.g. ``"init"``.
        cell: the cell whose parameters are named (a key of ``cells.CELLS`` or a Cell); the
            keys above are the vanilla cell's.

    Returns:
        The resolved ``InitSpec``.

    Raises:
        RnnInitError: one line naming the key path, what was given and what is allowed, e.g.
            ``init.Whh: unknown scheme 'xavir' (did you mean 'xavier'?); allowed: ...``.
    """
    if isinstance(spec, InitSpec):
        return spec
    cell = get_cell(cell)
    if isinstance(spec, str) and "=" in spec:
        return _from_mapping(_compact(spec, where), where, cell)
    if isinstance(spec, str):
        per_param, args = _from_name(spec, where, cell)
        return InitSpec(per_param=per_param, spectral_radius=None, args=args)
    if isinstance(spec, dict):
        return _from_mapping(spec, where, cell)
    raise RnnInitError(f"{where}: expected a scheme or preset name, PARAM=SCHEME pairs or a "
                       f"mapping per matrix, got {spec!r}")  # fmt: skip


# The keys of one parameter's mapping entry: {scheme, gain} or a gate bias's {scheme, t_max|value}.
ENTRY_KEYS = ("scheme", "gain", *(gb.arg for gb in GATE_BIASES.values()))


def spec_mapping(spec: InitSpec) -> dict:
    """An ``InitSpec`` as the explicit mapping ``parse_init`` reads back to the same spec: every
    parameter named (``{scheme, gain}`` where the gain is not 1; a gate-bias scheme with its
    parameter where it is not the default), then each gate override, then ``spectral_radius``
    when it is set."""

    def entry(scheme: str, gain: float, name: str | None = None):
        if scheme in GATE_BIASES:
            gb, arg = GATE_BIASES[scheme], spec.args.get(name, GATE_BIASES[scheme].default)
            return scheme if arg == gb.default else {"scheme": scheme, gb.arg: arg}
        return scheme if gain == 1.0 else {"scheme": scheme, "gain": gain}

    out = {k: entry(s, g, k) for k, (s, g) in spec.per_param.items()}
    out.update({k: entry(s, g) for k, (s, g) in spec.per_gate.items()})
    if spec.spectral_radius is not None:
        out["spectral_radius"] = spec.spectral_radius
    return out


def scheme_of(spec: InitSpec, key: str) -> str | None:
    """The scheme a mapping key draws with now: ``"Whh"`` or a gate block ``"Whh.f"`` (its
    parameter's scheme unless overridden); None for a key the spec does not know."""
    if key in spec.per_gate:
        return spec.per_gate[key][0]
    param = key.partition(".")[0]
    return spec.per_param[param][0] if param in spec.per_param else None
