"""The initialisation registry (DESIGN section 4): schemes, presets, gains and per-matrix specs.

A weight has shape (fan_out, fan_in): ``Wxh`` (H, I), ``Whh`` (H, H), ``Why`` (O, H). A 1-D bias
of length n counts as fan_out = fan_in = n. The parameters' names, shapes and roles come from the
cell (``cells.py``), presets name a scheme per role, gains come from the nonlinearity registry.
Every draw takes a ``numpy.random.Generator`` and a ``gain`` that multiplies the standard
deviation, as in PyTorch: the draw is gain x the base draw.
No draw is truncated or rescaled behind the user's back, so each delivers the mean and variance
its ``moments`` state; the tests check both against formulas written out by hand.
The registry is data: adding a scheme is one entry in ``SCHEMES``.

Pure NumPy: no printing, no files, no global RNG, no rich/typer/yaml.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import RnnInitError
from .cells import ROLES, Cell, ParamSpec, get_cell
from .gate_bias import GATE_BIASES, keep_gates
from .names import suggest
from .nonlinearities import NONLINEARITIES

# The vanilla cell's names, kept for importers: ("Wxh", "Whh", "Why", "bh", "by").
_RNN = get_cell("rnn")
PARAM_NAMES = _RNN.param_names
BIAS_NAMES = _RNN.names_with_role("bias")
WEIGHT_NAMES = tuple(n for n in PARAM_NAMES if n not in BIAS_NAMES)

# The gain that keeps the signal's scale through each nonlinearity (PyTorch's calculate_gain),
# from the registry; linear (gain 1, the reference) first, as messages have always listed them.
GAINS: dict[str, float] = {
    nl.name: nl.gain for nl in sorted(NONLINEARITIES.values(), key=lambda nl: nl.gain != 1.0)
}


@dataclass(frozen=True)
class Scheme:
    """One entry of the registry.

    Attributes:
        name: the registry key.
        formula: the draw at gain 1, as text (shown by ``rnninit inits`` and in ``--help``).
        note: one short line: who proposed it, or why it is here.
        kind: ``"iid"``, ``"orthogonal"``, ``"identity"`` or ``"zeros"``.
        draw: ``draw(rng, shape, gain, hidden_size) -> float64 array of shape``.
        moments: ``moments(shape, gain, hidden_size) -> (mean, var)`` of one entry, exact.
        zero_mean: True where the mean-field theory applies (zero-mean i.i.d. or orthogonal).
    """

    name: str
    formula: str
    note: str
    kind: str
    draw: Callable
    moments: Callable
    zero_mean: bool


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_out, fan_in) of a weight (fan_out, fan_in); a bias (n,) counts as (n, n)."""
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    raise RnnInitError(f"init: expected a 1-D or 2-D shape, got {tuple(shape)}")


# --- i.i.d. draws -------------------------------------------------------------------------------
# N(0, s^2) has variance s^2; U(-b, b) has variance b^2 / 3; U[0, 1) has mean 1/2, variance 1/12.


def _normal(std: Callable[[int, int, int], float]) -> tuple[Callable, Callable]:
    """draw and moments of gain * N(0, s^2), s = std(fan_out, fan_in, H)."""

    def draw(rng, shape, gain, hidden_size):
        fo, fi = _fans(shape)
        return gain * std(fo, fi, hidden_size) * rng.standard_normal(shape)

    def moments(shape, gain, hidden_size):
        fo, fi = _fans(shape)
        return 0.0, (gain * std(fo, fi, hidden_size)) ** 2

    return draw, moments


def _symmetric_uniform(bound: Callable[[int, int, int], float]) -> tuple[Callable, Callable]:
    """draw and moments of gain * U(-b, b), b = bound(fan_out, fan_in, H)."""

    def draw(rng, shape, gain, hidden_size):
        fo, fi = _fans(shape)
        b = bound(fo, fi, hidden_size)
        return gain * rng.uniform(-b, b, size=shape)

    def moments(shape, gain, hidden_size):
        fo, fi = _fans(shape)
        return 0.0, (gain * bound(fo, fi, hidden_size)) ** 2 / 3

    return draw, moments


def _uniform01_draw(rng, shape, gain, hidden_size):
    return gain * rng.random(shape)


def _uniform01_moments(shape, gain, hidden_size):
    return gain / 2, gain**2 / 12


# --- structured draws ---------------------------------------------------------------------------


def _matrix(shape, name: str) -> tuple[int, int]:
    if len(shape) != 2:
        raise RnnInitError(f"init: scheme '{name}' needs a matrix, got shape {tuple(shape)}")
    return shape[0], shape[1]


def _orthogonal_draw(rng, shape, gain, hidden_size):
    """gain * Q, Q from the QR of a Gaussian with Q's columns multiplied by sign(diag(R)).

    The sign correction makes Q Haar-distributed (plain QR favours diag(R) > 0). A (big, small)
    Gaussian gives orthonormal columns; it is transposed when fan_out < fan_in, so that the
    rows are orthonormal instead.
    """
    m, n = _matrix(shape, "orthogonal")
    Q, R = np.linalg.qr(rng.standard_normal((max(m, n), min(m, n))))  # Q (big, small), Q^T Q = I
    Q = Q * np.where(np.diag(R) < 0, -1.0, 1.0)  # column j times sign(R_jj)
    return gain * (Q if m >= n else Q.T)


def _orthogonal_moments(shape, gain, hidden_size):
    # A semi-orthogonal (m, n) matrix has min(m, n) unit-norm rows or columns, so its squared
    # entries sum to min(m, n); Haar symmetry (Q -> -Q) gives every entry mean 0, and the entries
    # are exchangeable, so Var = E[w^2] = min(m, n) / (m n) = 1 / max(m, n).
    m, n = _matrix(shape, "orthogonal")
    return 0.0, gain**2 / max(m, n)


def _identity_draw(rng, shape, gain, hidden_size):
    m, n = _matrix(shape, "identity")
    return gain * np.eye(m, n)


def _identity_moments(shape, gain, hidden_size):
    # gain * eye(m, n): a fraction p = min(m, n) / (m n) of the entries equal gain, the rest 0,
    # so the entries have mean p gain and (population) variance p (1 - p) gain^2.
    m, n = _matrix(shape, "identity")
    p = min(m, n) / (m * n)
    return gain * p, gain**2 * p * (1 - p)


def _zeros_draw(rng, shape, gain, hidden_size):
    return np.zeros(shape)


def _zeros_moments(shape, gain, hidden_size):
    return 0.0, 0.0


def _scheme(name, formula, note, kind, pair, zero_mean=True) -> Scheme:
    return Scheme(name, formula, note, kind, pair[0], pair[1], zero_mean)


_LECUN = _normal(lambda fo, fi, H: math.sqrt(1 / fi))  # N(0, 1/fan_in), under two names

SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in [
        _scheme("uniform", "U[0, 1)", "the naive draw; mean 0.5, variance 1/12", "iid",
                (_uniform01_draw, _uniform01_moments), zero_mean=False),
        _scheme("small", "N(0, 0.01²)", "min-char-rnn's choice", "iid",
                _normal(lambda fo, fi, H: 0.01)),
        _scheme("xavier", "N(0, 1/fan_in)", "what most RNN code calls Xavier; Glorot's own is glorot_normal",
                "iid", _LECUN),
        _scheme("glorot_normal", "N(0, 2/(fan_in+fan_out))", "Glorot & Bengio 2010", "iid",
                _normal(lambda fo, fi, H: math.sqrt(2 / (fi + fo)))),
        _scheme("glorot_uniform", "U(±sqrt(6/(fan_in+fan_out)))", "Glorot & Bengio 2010", "iid",
                _symmetric_uniform(lambda fo, fi, H: math.sqrt(6 / (fi + fo)))),
        _scheme("he", "N(0, 2/fan_in)", "He et al. 2015, for relu", "iid",
                _normal(lambda fo, fi, H: math.sqrt(2 / fi))),
        _scheme("he_uniform", "U(±sqrt(6/fan_in))", "He et al. 2015, uniform form (variance 2/fan_in)",
                "iid", _symmetric_uniform(lambda fo, fi, H: math.sqrt(6 / fi))),
        _scheme("orthogonal", "QR of N(0, 1), sign-corrected", "Saxe et al. 2013; semi-orthogonal if not square",
                "orthogonal", (_orthogonal_draw, _orthogonal_moments)),
        _scheme("identity", "I (rectangular eye if not square)", "Le, Jaitly & Hinton 2015 (IRNN)",
                "identity", (_identity_draw, _identity_moments), zero_mean=False),
        _scheme("lecun", "N(0, 1/fan_in)", "LeCun et al. 1998; the same draw as xavier", "iid",
                _LECUN),
        _scheme("torch_default", "U(±1/sqrt(H))", "PyTorch nn.RNN's default (H = hidden size), biases too",
                "iid", _symmetric_uniform(lambda fo, fi, H: 1 / math.sqrt(H))),
        _scheme("zeros", "0", "for biases", "zeros", (_zeros_draw, _zeros_moments)),
    ]
}  # fmt: skip

MATRIX_ONLY = tuple(n for n, s in SCHEMES.items() if s.kind in ("orthogonal", "identity"))

# Per-role schemes as the big frameworks set them (Keras SimpleRNN/LSTM/GRU, Flax SimpleCell/
# LSTMCell/GRUCell, nn.RNN/LSTM/GRU). A gated cell's weights take them block by block.
PRESET_ROLES: dict[str, dict[str, str]] = {
    "keras_default": {"input": "glorot_uniform", "recurrent": "orthogonal",
                      "output": "glorot_uniform", "bias": "zeros"},
    "flax_default": {"input": "lecun", "recurrent": "orthogonal", "output": "lecun",
                     "bias": "zeros"},
    "torch_default": {role: "torch_default" for role in ROLES},
}  # fmt: skip

# Gate biases a preset sets on top of its roles: {preset: {gate: (gate-bias scheme, argument)}};
# a bias with that gate block takes the scheme. Keras' LSTM has unit_forget_bias=True (b_f = 1);
# its GRU has no such option, and Flax and PyTorch set none.
PRESET_GATE_BIAS: dict[str, dict[str, tuple[str, float]]] = {
    "keras_default": {"f": ("forget_bias", 1.0)},
}


def _preset(name: str, cell: Cell) -> tuple[dict[str, str], dict[str, float]]:
    """(scheme per parameter in draw order, gate-bias arguments) of a preset for ``cell``."""
    roles, gated = PRESET_ROLES[name], PRESET_GATE_BIAS.get(name, {})
    schemes, args = {}, {}
    for p in cell.param_specs(1, 1, 1):
        schemes[p.name] = roles[p.role]
        for gate, (scheme, arg) in gated.items():
            if p.role == "bias" and gate in p.gates:
                schemes[p.name], args[p.name] = scheme, arg
    return schemes, args


def preset_for(name: str, cell: str | Cell = "rnn") -> dict[str, str]:
    """A preset's scheme for every parameter of ``cell``, in draw order (keras_default gives an
    LSTM's ``bh`` ``forget_bias``, value 1)."""
    return _preset(name, get_cell(cell))[0]


# The presets for the vanilla cell's names, kept for importers.
PRESETS: dict[str, dict[str, str]] = {name: preset_for(name) for name in PRESET_ROLES}


def describe_preset(name: str, cell: str | Cell = "rnn") -> str:
    """One line naming a preset's scheme per parameter, e.g. ``'Wxh lecun, Whh orthogonal, ...'``.

    Raises:
        RnnInitError: ``name`` is not a preset.
    """
    if name not in PRESETS:
        raise RnnInitError(f"init: unknown preset {name!r}{suggest(name, PRESETS)}; "
                           f"allowed: {', '.join(PRESETS)}")  # fmt: skip
    schemes, args = _preset(name, get_cell(cell))
    return ", ".join(
        f"{p} {s}" + (f":{args[p]:g}" if p in args else "") for p, s in schemes.items()
    )


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


def _gain(value, where: str) -> float:
    """A gain: a positive finite number or the name of a nonlinearity in GAINS."""
    if isinstance(value, str) and value in GAINS:
        return GAINS[value]
    try:
        return _positive(value, where, f"a positive number or one of {', '.join(GAINS)}")
    except RnnInitError as e:
        hint = suggest(value, GAINS) if isinstance(value, str) else ""
        raise RnnInitError(f"{e}{hint}") from None


def _gate_arg(value, where: str, scheme: str):
    """A gate-bias scheme's parameter (chrono's T_max may be None: the task's sequence length)."""
    gb = GATE_BIASES[scheme]
    if value is None and gb.default is None:
        return None
    number = _number(value)
    if number is None or (gb.minimum is not None and not number > gb.minimum):
        raise RnnInitError(f"{where}: expected {gb.arg_rule} for {scheme}'s {gb.arg}, "
                           f"got {value!r}")  # fmt: skip
    return number


def _allowed_for(p: ParamSpec, block: bool) -> list[str]:
    """The scheme names a parameter (or one gate block of it) accepts."""
    names = [n for n in SCHEMES if p.role != "bias" or n not in MATRIX_ONLY]
    if p.role == "bias" and not block and keep_gates(p.gates):
        names += list(GATE_BIASES)
    return names


def _scheme_name(value, where: str, p: ParamSpec, block: bool = False) -> str:
    """A scheme name that suits `p`: orthogonal and identity need a matrix, a gate-bias scheme
    a whole bias with a forget (f) or update (z) gate block."""
    if not isinstance(value, str):
        raise RnnInitError(f"{where}: expected a scheme name, got {value!r}")
    allowed = ", ".join(_allowed_for(p, block))
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
        names = [*SCHEMES, *GATE_BIASES]
        raise RnnInitError(f"{where}: unknown scheme {value!r}{suggest(value, names)}; "
                           f"allowed: {allowed}")  # fmt: skip
    if p.role == "bias" and value in MATRIX_ONLY:
        raise RnnInitError(f"{where}: scheme {value!r} needs a matrix and {p.name} is a 1-D bias; "
                           f"allowed: {allowed}")  # fmt: skip
    return value


def _param_value(value, where: str, p: ParamSpec, block: bool = False):
    """(scheme, gain, gate-bias argument or None) of a name, ``{scheme: NAME, gain: G}`` or a
    gate-bias ``{scheme: chrono, t_max: T}`` / ``{scheme: forget_bias, value: V}``."""
    if isinstance(value, str):
        name = _scheme_name(value, where, p, block)
        return name, 1.0, GATE_BIASES[name].default if name in GATE_BIASES else None
    if not isinstance(value, dict):
        raise RnnInitError(f"{where}: expected a scheme name or {{scheme: NAME, gain: G}}, "
                           f"got {value!r}")  # fmt: skip
    if "scheme" not in value:
        raise RnnInitError(f"{where}: missing key 'scheme', e.g. {{scheme: orthogonal, gain: 1.0}}")
    name = _scheme_name(value["scheme"], f"{where}.scheme", p, block)
    keys = ["scheme", GATE_BIASES[name].arg] if name in GATE_BIASES else ["scheme", "gain"]
    for key in value:
        if key not in keys:
            raise RnnInitError(f"{where}.{key}: unknown key {key!r}{suggest(key, keys)}; "
                               f"allowed: {', '.join(keys)}")  # fmt: skip
    if name in GATE_BIASES:
        arg = GATE_BIASES[name].arg
        default = GATE_BIASES[name].default
        return name, 1.0, _gate_arg(value.get(arg, default), f"{where}.{arg}", name)
    return name, _gain(value.get("gain", 1.0), f"{where}.gain"), None


def _from_name(name, where: str, cell: Cell) -> tuple[dict[str, tuple[str, float]], dict]:
    """A scheme or preset name -> (every param, gate-bias arguments); a scheme goes to the
    weights, biases zeros."""
    if not isinstance(name, str):
        raise RnnInitError(f"{where}: expected a scheme or preset name, got {name!r}")
    name = name.strip()
    if name in PRESETS:  # first: 'torch_default' alone means the preset, biases drawn too
        schemes, args = _preset(name, cell)
        return {param: (scheme, 1.0) for param, scheme in schemes.items()}, args
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
        if key != "spectral_radius" and ":" in value:
            scheme, _, after = (s.strip() for s in value.partition(":"))
            arg = GATE_BIASES[scheme].arg if scheme in GATE_BIASES else "gain"
            value = {"scheme": scheme, arg: after}
        mapping[key] = value
    return mapping


def mapping_keys(cell: str | Cell = "rnn") -> tuple[str, ...]:
    """The keys an init mapping accepts: the cell's parameters, ``PARAM.GATE`` for each gate
    block of a gated parameter (``Whh.f``), ``default``, ``spectral_radius``."""
    specs = get_cell(cell).param_specs(1, 1, 1)
    blocks = [f"{p.name}.{g}" for p in specs for g in p.gates]
    return (*(p.name for p in specs), *blocks, "default", "spectral_radius")


MAPPING_KEYS = mapping_keys("rnn")  # the vanilla cell's, kept for importers


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
            scheme, gain, arg = _param_value(spec[p.name], f"{where}.{p.name}", p)
            per_param[p.name] = (scheme, gain)
            args.pop(p.name, None)
            if scheme in GATE_BIASES:
                args[p.name] = arg
        for g in p.gates:
            key = f"{p.name}.{g}"
            if key in spec:
                scheme, gain, _ = _param_value(spec[key], f"{where}.{key}", p, block=True)
                per_gate[key] = (scheme, gain)
        whole = per_param[p.name][0]
        if whole in GATE_BIASES:
            keep, write = keep_gates(p.gates)
            for g in (keep, write):
                if f"{p.name}.{g}" in per_gate:
                    raise RnnInitError(f"{where}.{p.name}.{g}: {p.name}={whole} sets the {g} "
                                       f"block itself; override another block, or choose another "
                                       f"scheme for {p.name}")  # fmt: skip
    radius = spec.get("spectral_radius")
    if radius is not None:
        radius = _positive(radius, f"{where}.spectral_radius", "a positive number")
        W = cell.recurrent_weight
        gates = {p.name: p.gates for p in cell.param_specs(1, 1, 1)}[W]
        if gates:
            raise RnnInitError(f"{where}.spectral_radius: {W} of cell {cell.name!r} stacks "
                               f"{len(gates)} gate blocks ({len(gates)}H x H) and has no spectral "
                               "radius; allowed only for a cell without gates")  # fmt: skip
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


# --- drawing ------------------------------------------------------------------------------------


def spectral_radius(W: np.ndarray) -> float:
    """max |eigenvalue| of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(W))))


@dataclass(frozen=True)
class Block:
    """One gate block of a parameter as it is drawn (the whole parameter when it has no gates).

    Attributes:
        param: the parameter's name. gate: the gate's name, "" without gates.
        shape: the block's shape: (H, fan_in) of a gated weight, (H,) of a gated bias; the
            parameter's own shape without gates. Fans are the block's.
        scheme: a key of ``SCHEMES`` or ``GATE_BIASES``. gain: its gain (1.0 for a gate bias).
        arg: a gate-bias scheme's parameter (T_max resolved from seq_len), else None.
        gates: all the parameter's gate names (a gate-bias scheme reads them).
    """

    param: str
    gate: str
    shape: tuple[int, ...]
    scheme: str
    gain: float
    arg: float | None
    gates: tuple[str, ...]


def _resolved_arg(spec: InitSpec, name: str, scheme: str, seq_len) -> float:
    """A gate-bias argument; chrono's T_max from ``seq_len`` where the spec leaves it None."""
    arg = spec.args.get(name, GATE_BIASES[scheme].default)
    if arg is not None:
        return arg
    if seq_len is None:
        raise RnnInitError(f"init.{name}: {scheme} needs T_max: write {name}={scheme}:T_MAX, or "
                           "pass seq_len (a run passes its task's sequence length)")  # fmt: skip
    return _gate_arg(seq_len, f"init.{name}: T_max from the sequence length", scheme)


def block_plan(
    I: int, H: int, O: int, init="xavier", cell: str | Cell = "rnn", seq_len: int | None = None
) -> list[Block]:
    """The blocks ``init_params`` draws, in draw order: the cell's parameters in order and,
    within a gated parameter, its gate blocks in gate order (LSTM i, f, g, o; GRU r, z, n).

    A block takes its gate's override (``Whh.f``) if the spec has one, else its parameter's
    scheme; a gate-bias scheme covers the blocks it sets (keep and write gates) and leaves the
    others zero unless overridden.

    Raises:
        RnnInitError: a bad spec or cell, or chrono without T_max and without ``seq_len``.
    """
    cell = get_cell(cell)
    spec = parse_init(init, cell=cell)
    missing = [name for name in cell.param_names if name not in spec.per_param]
    if missing:
        raise RnnInitError(f"init_params: the init names no scheme for {', '.join(missing)} "
                           f"of cell {cell.name!r}")  # fmt: skip
    plan = []
    for p in cell.param_specs(I, H, O):  # fixed order: reproducible
        scheme, gain = spec.per_param[p.name]
        if not p.gates:
            plan.append(Block(p.name, "", tuple(p.shape), scheme, gain, None, ()))
            continue
        shape = (p.shape[0] // len(p.gates), *p.shape[1:])  # one block: (H, fan_in) or (H,)
        arg, sets = None, ()
        if scheme in GATE_BIASES:
            arg = _resolved_arg(spec, p.name, scheme, seq_len)
            sets = tuple(GATE_BIASES[scheme].moments(p.gates, arg))
        for g in p.gates:
            if g in sets:
                plan.append(Block(p.name, g, shape, scheme, 1.0, arg, p.gates))
            else:  # a gate bias leaves the blocks it does not set at zero
                rest = ("zeros", 1.0) if scheme in GATE_BIASES else (scheme, gain)
                s, k = spec.per_gate.get(f"{p.name}.{g}", rest)
                plan.append(Block(p.name, g, shape, s, k, None, p.gates))
    return plan


def block_moments(block: Block, H: int) -> tuple[float, float]:
    """(mean, var) of one entry of a block, exact, from its scheme's formula (H: hidden size)."""
    if block.scheme in GATE_BIASES:
        return GATE_BIASES[block.scheme].moments(block.gates, block.arg)[block.gate]
    return SCHEMES[block.scheme].moments(block.shape, block.gain, H)


def init_params(
    I: int,
    H: int,
    O: int,
    init="xavier",
    seed: int | None = 0,
    *,
    rng: np.random.Generator | None = None,
    dtype=np.float64,
    cell: str | Cell = "rnn",
    seq_len: int | None = None,
) -> dict[str, np.ndarray]:
    """Draw the parameters of a cell (by default the vanilla RNN).

    Names, shapes and roles come from ``cell.param_specs(I, H, O)``; for ``rnn``: Wxh (H, I),
    Whh (H, H), Why (O, H), bh (H,), by (O,). All draws come from one generator in a fixed
    order (``block_plan``): the cell's parameters in order (rnn: Wxh, Whh, Why, bh, by) and,
    within a gated parameter, block by block in gate order, each block drawn with its own fans
    (an LSTM's Whh orthogonal is four orthogonal H x H blocks); a gate-bias scheme draws once,
    at the first block it sets (chrono: H uniforms). A seed fixes every number. If the spec
    sets ``spectral_radius`` R, the recurrent weight Whh is then multiplied by
    R / max|eig(Whh)|. The draws are float64, cast to ``dtype`` at the end.

    Args:
        I: input size. H: hidden size. O: output size (positive integers).
        init: anything ``parse_init`` accepts, or an ``InitSpec``.
        seed: seed of ``np.random.default_rng``; ignored when ``rng`` is given.
        rng: a generator to draw from (it is advanced by the draws).
        dtype: the dtype of the returned arrays.
        cell: a key of ``cells.CELLS`` or a Cell.
        seq_len: the task's sequence length: chrono's T_max where the spec leaves it out.

    Returns:
        One array per parameter, in draw order: ``{"Wxh": ..., "Whh": ..., "Why": ..., "bh": ...,
        "by": ...}`` for ``rnn``.

    Raises:
        RnnInitError: a bad spec, size or cell, chrono with no T_max and no seq_len, or a Whh
            with spectral radius 0 when R is set.
    """
    for label, n in (("I", I), ("H", H), ("O", O)):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise RnnInitError(f"init_params: {label}: expected a positive integer, got {n!r}")
    cell = get_cell(cell)
    spec = parse_init(init, cell=cell)
    plan = block_plan(I, H, O, spec, cell, seq_len)
    if rng is None:
        rng = np.random.default_rng(seed)
    blocks: dict[str, list[np.ndarray]] = {}
    gate_bias: dict[str, dict[str, np.ndarray]] = {}  # param -> the blocks its scheme set
    for b in plan:
        if b.scheme in GATE_BIASES:
            if b.param not in gate_bias:  # one draw, at the first block the scheme sets
                gate_bias[b.param] = GATE_BIASES[b.scheme].blocks(rng, b.gates, b.shape[0], b.arg)
            W = gate_bias[b.param][b.gate]
        else:
            W = SCHEMES[b.scheme].draw(rng, b.shape, b.gain, H)
        blocks.setdefault(b.param, []).append(np.asarray(W, np.float64))
    params = {name: bs[0] if len(bs) == 1 else np.concatenate(bs) for name, bs in blocks.items()}
    if spec.spectral_radius is not None:
        W = cell.recurrent_weight
        rho = spectral_radius(params[W])
        if not rho > 0:
            raise RnnInitError(f"init.spectral_radius: {W} ({spec.per_param[W][0]}) has "
                               "spectral radius 0 and cannot be rescaled")  # fmt: skip
        params[W] = params[W] * (spec.spectral_radius / rho)
    return {name: p.astype(dtype) for name, p in params.items()}


def measure_schemes(shape: tuple[int, int], seed: int = 0, gain: float = 1.0) -> list[dict]:
    """Draw one matrix of ``shape`` with every scheme and measure it beside its formula.

    Every scheme draws from its own ``np.random.default_rng(seed)`` with ``hidden_size =
    shape[0]``, so a row does not depend on the registry's order (and ``xavier`` and ``lecun``,
    the same draw, show the same numbers).

    Args:
        shape: (fan_out, fan_in) of the matrix.
        seed: seed of every draw.
        gain: the gain every scheme is drawn with (a number or a nonlinearity's name).

    Returns:
        One dict per scheme, in registry order: ``name``, ``formula``, ``note``,
        ``expected_mean``, ``expected_var`` (from the formula), ``mean``, ``var`` (measured,
        ddof=0), ``spectral_radius`` and ``max_singular`` (square shapes only; None otherwise).

    Raises:
        RnnInitError: a shape that is not two positive integers, or a bad gain.
    """
    if len(shape) != 2 or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in shape):
        raise RnnInitError(f"shape: expected two positive integers, got {tuple(shape)}")
    shape = (int(shape[0]), int(shape[1]))
    gain = _gain(gain, "gain")
    square = shape[0] == shape[1]
    rows = []
    for scheme in SCHEMES.values():
        W = scheme.draw(np.random.default_rng(seed), shape, gain, shape[0])
        mean, var = scheme.moments(shape, gain, shape[0])
        rows.append({
            "name": scheme.name,
            "formula": scheme.formula,
            "note": scheme.note,
            "expected_mean": float(mean),
            "expected_var": float(var),
            "mean": float(W.mean()),
            "var": float(W.var()),
            "spectral_radius": spectral_radius(W) if square else None,
            "max_singular": float(np.linalg.norm(W, 2)) if square else None,
        })  # fmt: skip
    return rows


def measure_blocks(
    I: int,
    H: int,
    O: int,
    init="xavier",
    cell: str | Cell = "rnn",
    seed: int = 0,
    seq_len: int | None = None,
) -> list[dict]:
    """One draw of ``init_params`` measured block by block beside each block's formula.

    Returns:
        One dict per block, in draw order (``block_plan``): ``param``, ``gate`` ("" without
        gates), ``shape`` (the block's), ``fan_out``, ``fan_in`` (the block's: a bias (n,)
        counts as n, n), ``scheme``, ``gain``, ``arg`` (a gate bias's parameter, else None),
        ``formula``, ``expected_mean``, ``expected_var`` (exact, from the formula) and ``mean``,
        ``var`` (measured, ddof=0).

    Raises:
        RnnInitError: as ``init_params``.
    """
    cell = get_cell(cell)
    params = init_params(I, H, O, init, seed, cell=cell, seq_len=seq_len)
    plan = block_plan(I, H, O, init, cell, seq_len)
    count = {p: sum(b.param == p for b in plan) for p in params}
    rows, seen = [], {}
    for b in plan:
        k = seen[b.param] = seen.get(b.param, -1) + 1
        W = np.split(params[b.param], count[b.param])[k]
        fan_out, fan_in = _fans(b.shape)
        mean, var = block_moments(b, H)
        formula = (GATE_BIASES if b.scheme in GATE_BIASES else SCHEMES)[b.scheme].formula
        rows.append({
            "param": b.param, "gate": b.gate, "shape": b.shape, "fan_out": fan_out,
            "fan_in": fan_in, "scheme": b.scheme, "gain": b.gain, "arg": b.arg,
            "formula": formula, "expected_mean": float(mean), "expected_var": float(var),
            "mean": float(W.mean()), "var": float(W.var()),
        })  # fmt: skip
    return rows
