"""The initialisation registry (DESIGN section 4), one import away: schemes, presets, gains,
per-matrix specs, drawing a cell's parameters and measuring a draw.

Each part lives in a module of its own; this one re-exports their public names, so that
``from rnninit.core.inits import ...`` keeps working for every caller:

- ``draws.py``: the registry of draws (``Scheme``, ``SCHEMES``, ``MATRIX_ONLY``, ``GAINS``);
- ``presets.py``: the presets (``PRESET_ROLES``, ``PRESET_GATE_BIAS``, ``PRESETS``,
  ``preset_for``, ``describe_preset``);
- ``initspec.py``: reading what a user writes (``InitSpec``, ``parse_init``, ``mapping_keys``,
  ``spec_mapping``, ``scheme_of``, ``ENTRY_KEYS``);
- ``blocks.py``: drawing a cell's parameters block by block (``block_plan``, ``block_moments``,
  ``init_params``, ``spectral_radius``);
- ``measure.py``: one draw measured beside its formula (``measure_schemes``, ``measure_blocks``).

Pure NumPy: no printing, no files, no global RNG, no rich/typer/yaml.
"""

from __future__ import annotations

from .blocks import Block, block_moments, block_plan, init_params, spectral_radius
from .cells import get_cell
from .draws import GAINS, MATRIX_ONLY, SCHEMES, Scheme
from .initspec import (
    ENTRY_KEYS,
    MAPPING_KEYS,
    InitSpec,
    mapping_keys,
    parse_init,
    scheme_of,
    spec_mapping,
)
from .measure import measure_blocks, measure_schemes
from .presets import PRESET_GATE_BIAS, PRESET_ROLES, PRESETS, describe_preset, preset_for

# The vanilla cell's names, kept for importers: ("Wxh", "Whh", "Why", "bh", "by").
_RNN = get_cell("rnn")
PARAM_NAMES = _RNN.param_names
BIAS_NAMES = _RNN.names_with_role("bias")
WEIGHT_NAMES = tuple(n for n in PARAM_NAMES if n not in BIAS_NAMES)

__all__ = [
    "BIAS_NAMES", "ENTRY_KEYS", "GAINS", "MAPPING_KEYS", "MATRIX_ONLY", "PARAM_NAMES",
    "PRESETS", "PRESET_GATE_BIAS", "PRESET_ROLES", "SCHEMES", "WEIGHT_NAMES", "Block",
    "InitSpec", "Scheme", "block_moments", "block_plan", "describe_preset", "init_params",
    "mapping_keys", "measure_blocks", "measure_schemes", "parse_init", "preset_for",
    "scheme_of", "spec_mapping", "spectral_radius",
]  # fmt: skip
