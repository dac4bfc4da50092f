"""Presets (DESIGN section 4): a scheme per parameter role as the big frameworks set them.

``keras_default``, ``flax_default`` and ``torch_default`` name a scheme per role (input,
recurrent, output, bias), ``irnn`` (Le et al. 2015) too, with a gain (``NAME:GAIN``); a preset may also draw a gated cell's stacked weights whole (Keras)
and set its gate bias (Keras' LSTM forget bias 1). ``preset_for`` resolves a preset against a
cell's parameters.

Pure Python: no printing, no files, no rich/typer/yaml.
"""

from __future__ import annotations

from ..errors import RnnInitError
from .cells import ROLES, Cell, get_cell
from .names import suggest

# Per-role schemes as the big frameworks set them (Keras SimpleRNN/LSTM/GRU, Flax SimpleCell/
# LSTMCell/GRUCell, nn.RNN/LSTM/GRU). A gated cell's weights take them block by block, unless
# PRESET_GATED_ROLES says otherwise.
PRESET_ROLES: dict[str, dict[str, str]] = {
    "keras_default": {"input": "glorot_uniform", "recurrent": "orthogonal",
                      "output": "glorot_uniform", "bias": "zeros"},
    "flax_default": {"input": "lecun", "recurrent": "orthogonal", "output": "lecun",
                     "bias": "zeros"},
    "torch_default": {role: "torch_default" for role in ROLES},
    # Le, Jaitly & Hinton 2015: identity recurrence, N(0, 0.001^2) input and output weights
    # (small, N(0, 0.01^2), at gain 0.1), zero biases.
    "irnn": {"input": "small:0.1", "recurrent": "identity", "output": "small:0.1",
             "bias": "zeros"},
}  # fmt: skip

# Schemes a preset gives, in place of PRESET_ROLES', to the parameters with gate blocks:
# keras_default draws an LSTM's or GRU's Wxh and Whh as Keras draws them: whole kernels (the
# _whole variants of draws.py). Flax's separate Dense per gate (lecun input, orthogonal
# recurrent) and PyTorch's elementwise U(±1/sqrt(H)) are block by block already.
PRESET_GATED_ROLES: dict[str, dict[str, str]] = {
    "keras_default": {"input": "glorot_uniform_whole", "recurrent": "orthogonal_whole"},
}

# Gate biases a preset sets on top of its roles: {preset: {gate: (gate-bias scheme, argument)}};
# a bias with that gate block takes the scheme. Keras' LSTM has unit_forget_bias=True (b_f = 1);
# its GRU has no such option, and Flax and PyTorch set none.
PRESET_GATE_BIAS: dict[str, dict[str, tuple[str, float]]] = {
    "keras_default": {"f": ("forget_bias", 1.0)},
}


def scheme_gain(entry: str) -> tuple[str, float]:
    """A preset's entry as (scheme, gain): ``"small:0.1"`` -> ``("small", 0.1)``, a name alone
    has gain 1."""
    scheme, _, gain = entry.partition(":")
    return scheme, float(gain) if gain else 1.0


def preset_schemes(name: str, cell: Cell) -> tuple[dict[str, str], dict[str, float]]:
    """(scheme per parameter in draw order, gate-bias arguments) of a preset for ``cell``; a
    scheme with a gain is written ``NAME:GAIN`` (``scheme_gain`` splits it)."""
    roles, gated = PRESET_ROLES[name], PRESET_GATE_BIAS.get(name, {})
    stacked = {**roles, **PRESET_GATED_ROLES.get(name, {})}  # for a parameter with gate blocks
    schemes, args = {}, {}
    for p in cell.param_specs(1, 1, 1):
        schemes[p.name] = (stacked if p.gates else roles)[p.role]
        for gate, (scheme, arg) in gated.items():
            if p.role == "bias" and gate in p.gates:
                schemes[p.name], args[p.name] = scheme, arg
    return schemes, args


def preset_for(name: str, cell: str | Cell = "rnn") -> dict[str, str]:
    """A preset's scheme for every parameter of ``cell``, in draw order (keras_default gives an
    LSTM's ``Wxh`` and ``Whh`` ``glorot_uniform_whole`` and ``orthogonal_whole``, as Keras draws
    them: whole kernels, and its ``bh`` ``forget_bias``, value 1)."""
    return preset_schemes(name, get_cell(cell))[0]


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
    schemes, args = preset_schemes(name, get_cell(cell))
    return ", ".join(
        f"{p} {s}" + (f":{args[p]:g}" if p in args else "") for p, s in schemes.items()
    )
