"""The experiment config: one schema, declared once as data (DESIGN section 6).

``SCHEMA`` lists every key with its default, its type and range and its help text; validation,
the CLI's ``--help`` and the README's config reference are all produced from it. A config is a
nested dict (``cfg["model"]["hidden_size"]``) resolved by ``load_config`` in one place:
built-in defaults, then a YAML file, then ``KEY=VALUE`` overrides.

Every user mistake raises ``RnnInitError`` with one line naming the file (or the override), the
key, what was expected and what was given::

    configs/a.yaml: model.hidden_size: expected a positive integer, got -3 (line 2)
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import math
import numbers
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core.names import closest, suggest
from ..errors import RnnInitError


@dataclass(frozen=True)
class Field:
    """One config key: its default, what it accepts and what it means.

    kind is "bool", "int", "float", "str", "choice", "name" (a run name) or "init" (str or mapping,
    checked by ``rnninit.core.initspec.parse_init``). Bounds ge/gt/le/lt apply to numbers.
    choices is a tuple of names or "module:REGISTRY", a dict whose keys are the allowed names.
    """

    key: str
    default: Any
    kind: str
    help: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[str, ...] | str = ()
    nullable: bool = False
    is_path: bool = False  # a file or folder: relative to the YAML file that sets it; ~ expands

    def names(self) -> list[str]:
        """The allowed names of a choice field, read from its registry when it has one."""
        if isinstance(self.choices, str):
            module, attr = self.choices.split(":")
            return list(getattr(importlib.import_module(module), attr))
        return list(self.choices)


# ---------------------------------------------------------------------------------------------
# The defaults, with types, ranges and help: the one place a key is declared.
# ---------------------------------------------------------------------------------------------
# fmt: off
SCHEMA: dict[str, Field] = {
    f.key: f
    for f in [
        Field("name", "run", "name", "run name, the prefix of the run id"),
        Field("seed", 0, "int", "seeds everything: init, data, sampling", ge=0),
        Field("task.name", "char", "choice", "which task makes the batches (inputs, targets, loss)", choices="rnninit.core.tasks:TASKS"),
        Field("task.path", None, "str", "UTF-8 text file for `char` (null: the built-in offline corpus); relative to the config file's folder; ~ expands", nullable=True, is_path=True),
        Field("task.seq_len", 25, "int", "T, the unrolled length (for `copy`, the delay; sequences are T+20 long); adding needs >= 2; mnist1d's length is fixed at 40 (recorded as 40; any other value than the default is refused)", ge=1),
        Field("task.permute", False, "bool", "mnist1d only: shuffle the 40 positions by one fixed permutation (the same for every run and seed; recorded in summary.json), as in permuted sequential MNIST"),
        Field("task.val_fraction", 0.1, "float", "fraction of the data held out for validation", gt=0, le=0.5),
        Field("task.val_batches", 4, "int", "validation batches per evaluation", ge=1),
        Field("model.cell", "rnn", "choice", "the recurrent cell (DESIGN section 2)", choices="rnninit.core.cells:CELLS"),
        Field("model.hidden_size", 128, "int", "H, the number of hidden units", ge=1),
        Field("model.nonlinearity", "tanh", "choice", "phi, the hidden nonlinearity", choices="rnninit.core.engine:NONLINEARITIES"),
        Field("init", "xavier", "init", "how Wxh, Whh, Why, bh, by are drawn: one name for all, or {Whh: orthogonal, Wxh: {scheme: he, gain: relu}, spectral_radius: 0.9, ...}; a gated cell's gate block Whh.f: identity, its gate bias bh: {scheme: chrono, t_max: 200} or forget_bias; NAME:G is {scheme: NAME, gain: G}; Whh: critical solves Whh's gain for chi* = 1 at run time"),
        Field("train.steps", 300, "int", "number of parameter updates", ge=0),
        Field("train.batch_size", 32, "int", "B, sequences per batch", ge=1),
        Field("train.optimizer", "adam", "choice", "the update rule", choices="rnninit.core.optim:OPTIMIZERS"),
        Field("train.lr", 0.005, "float", "learning rate", gt=0),
        Field("train.momentum", 0.9, "float", "momentum coefficient (momentum)", ge=0, lt=1),
        Field("train.beta1", 0.9, "float", "first-moment decay (adam)", ge=0, lt=1),
        Field("train.beta2", 0.999, "float", "second-moment decay (adam)", ge=0, lt=1),
        Field("train.rho", 0.99, "float", "decay rate of the squared-gradient average (rmsprop): PyTorch's alpha (default 0.99), Keras' rho (default 0.9)", ge=0, lt=1),
        Field("train.eps", 1.0e-8, "float", "added to the denominator (adagrad, adam, rmsprop)", gt=0),
        Field("train.clip", 5.0, "float", "global gradient-norm clipping (0 = no clipping)", ge=0),
        Field("train.dtype", "float64", "choice", "floating-point type of parameters and activations", choices=("float32", "float64")),
        Field("train.threads", None, "int", "BLAS threads of this run (null: chosen from the size of the matrix products); recorded in summary.json, since bit-identical reruns need the same count and BLAS", ge=1, nullable=True),
        Field("train.target_loss", None, "float", "steps_to_target: the first step whose smoothed training loss (EMA 0.9) is at or below it (null: the task's default; char: 0.85 x unigram entropy, adding and copy: chance / 2)", gt=0, nullable=True),
        Field("train.target_acc", None, "float", "steps_to_target_acc: the first evaluation step (every log.eval_every) whose val_acc is at or above it (null: none); tasks with classes only (not adding)", gt=0, le=1, nullable=True),
        Field("log.stats_every", 100, "int", "per-timestep statistics at step 0, every N steps and at the end", ge=1),
        Field("log.jacobian", False, "bool", "also the singular values of dh_t/dh_0 at each statistics step (jacobian.csv, jacobian.npz, plots/jacobian.png); costs more than the other statistics (README: What is measured)"),
        Field("log.jacobian_sequences", 4, "int", "sequences of each statistics step's batch (the first ones, at most train.batch_size) whose Jacobian spectrum log.jacobian records", ge=1),
        Field("log.eval_every", 25, "int", "validation loss every N steps and at the end", ge=1),
        Field("log.print_every", 25, "int", "a progress line every N steps when not on a terminal", ge=1),
        Field("log.checkpoint_every", 0, "int", "checkpoint.npz every N steps (0: only at the end and on interrupt)", ge=0),
        Field("log.runs_dir", "runs", "str", "where run folders go (in a config file: relative to its folder; on the command line: to the current one); ~ expands", is_path=True),
    ]
}
# fmt: on

# Top-level keys in schema order, and the keys of each section: {"model": ["hidden_size", ...]}.
TOP_KEYS: list[str] = list(dict.fromkeys(k.split(".")[0] for k in SCHEMA))
SECTIONS: dict[str, list[str]] = {}
for _key in SCHEMA:
    if "." in _key:
        SECTIONS.setdefault(_key.split(".")[0], []).append(_key.split(".", 1)[1])


# ---------------------------------------------------------------------------------------------
# The typed, frozen view of a resolved config: cfg.train.lr rather than cfg["train"]["lr"].
# The fields mirror SCHEMA (a test checks that they agree); defaults and rules live there only.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskConfig:
    name: str
    path: str | None
    seq_len: int
    permute: bool
    val_fraction: float
    val_batches: int


@dataclass(frozen=True)
class ModelConfig:
    cell: str
    hidden_size: int
    nonlinearity: str


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int
    optimizer: str
    lr: float
    momentum: float
    beta1: float
    beta2: float
    rho: float
    eps: float
    clip: float
    dtype: str
    threads: int | None
    target_loss: float | None
    target_acc: float | None


@dataclass(frozen=True)
class LogConfig:
    stats_every: int
    jacobian: bool
    jacobian_sequences: int
    eval_every: int
    print_every: int
    checkpoint_every: int
    runs_dir: str


@dataclass(frozen=True)
class Config:
    """A resolved, validated config, as ``load_config``, ``validate`` and ``apply_overrides``
    return it. ``init`` is a scheme or preset name, or a mapping per matrix, as the user wrote
    it (never mutated: ``updated`` returns a new config)."""

    name: str
    seed: int
    task: TaskConfig
    model: ModelConfig
    init: str | dict
    train: TrainConfig
    log: LogConfig

    def to_dict(self) -> dict:
        """The nested dict (a deep copy): YAML dumps, hashes and the report layer take this."""
        return dataclasses.asdict(self)

    def get(self, dotted_key: str) -> Any:
        """``cfg.get("model.hidden_size")`` is ``cfg.model.hidden_size``."""
        node = self
        for part in dotted_key.split("."):
            node = getattr(node, part)
        return node

    def updated(self, values: dict[str, Any], source: str = "config") -> Config:
        """A new config with the dotted keys of ``values`` set, validated again."""
        data = self.to_dict()
        for key, value in values.items():
            set_key(data, key, value)
        return validate(data, source)


SECTION_TYPES = {"task": TaskConfig, "model": ModelConfig, "train": TrainConfig, "log": LogConfig}


def _typed(cfg: dict) -> Config:
    """The frozen Config of a validated nested dict."""
    parts = {top: SECTION_TYPES[top](**cfg[top]) if top in SECTION_TYPES else copy.deepcopy(cfg[top])
             for top in TOP_KEYS}  # fmt: skip
    return Config(**parts)


def _plain(cfg: Config | dict) -> dict:
    """A nested dict of either form (a deep copy)."""
    return cfg.to_dict() if isinstance(cfg, Config) else copy.deepcopy(cfg)


NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
NAME_RULE = "a run name: 1-64 characters of A-Z a-z 0-9 _ . -, not starting with '.'"
INIT_RULE = "a scheme or preset name, or a mapping per matrix"


# ---------------------------------------------------------------------------------------------
# Precedence: the one place where the layers meet.
# ---------------------------------------------------------------------------------------------
def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> Config:
    """Resolve a config: built-in defaults, then the YAML file, then ``KEY=VALUE`` overrides.

    Args:
        path: a YAML file (``yaml.safe_load``) holding any subset of the keys, or None.
        overrides: dotted ``KEY=VALUE`` strings, values parsed as YAML, applied in order.

    Returns:
        The resolved, validated ``Config``. Paths the file sets (task.path, log.runs_dir) are
        relative to the file's folder; ``~`` expands.

    Raises:
        RnnInitError: one line naming the file or override, the key, what was given and allowed.
    """
    # Precedence, lowest first; a later layer replaces a whole value of an earlier one. `init`
    # is one value: a file's init mapping replaces the default init, while an override
    # `init.Whh=...` edits the init resolved so far.
    cfg = defaults()  # 1. built-in defaults (SCHEMA above)
    if path is not None:  # 2. the YAML file: the keys it names replace the defaults
        data, lines = _read_yaml(path)
        cfg = _validate(_merge(cfg, data, str(path), lines), str(path), lines)
        _resolve_paths(cfg, data, Path(path).parent)
    return apply_overrides(cfg, overrides)  # 3. KEY=VALUE overrides, in the order given


def _resolve_paths(cfg: dict, data: dict, folder: Path) -> None:
    """Paths a YAML file sets are relative to that file's folder (``~`` expands), so a config
    means the same files from whatever directory it is run."""
    for key, field in SCHEMA.items():
        top, _, sub = key.partition(".")
        given = data.get(top, {}).get(sub) if sub and isinstance(data.get(top), dict) else None
        if field.is_path and isinstance(given, str):
            set_key(cfg, key, str(folder / Path(given).expanduser()))


def absolute_paths(cfg: Config) -> Config:
    """The config with every path key absolute (``~`` expanded, relative to the current folder):
    what a run folder's config.yaml records, so a rerun or a resume works from anywhere."""
    values = {}
    for key, field in SCHEMA.items():
        value = cfg.get(key)
        if field.is_path and isinstance(value, str):
            values[key] = os.path.abspath(os.path.expanduser(value))
    return cfg.updated(values)


def defaults() -> dict:
    """A fresh nested dict of every key's built-in default."""
    cfg: dict = {}
    for key, field in SCHEMA.items():
        set_key(cfg, key, copy.deepcopy(field.default))
    return cfg


def validate(cfg: Config | dict, source: str) -> Config:
    """Check a config (typed or a nested dict) against ``SCHEMA``; return it typed and frozen.

    Keys missing from ``cfg`` take their defaults; ints given for float keys become floats.
    ``source`` names where the config came from in error messages (a file name, "config").

    Raises:
        RnnInitError: for an unknown or misspelt key, a wrong type or a value out of range.
    """
    return _typed(_validate(_merge(defaults(), _plain(cfg), source, {}), source, {}))


def apply_overrides(
    cfg: Config | dict, overrides: Sequence[str], source: str = "override"
) -> Config:
    """Return a resolved config with each dotted ``KEY=VALUE`` applied in turn.

    Values are parsed with ``yaml.safe_load`` (``5`` is an int, ``null`` is None, ``tanh`` a
    string). ``init.Whh=orthogonal`` turns a one-name init into ``{default: <name>, Whh:
    orthogonal}``; ``init.Whh.gain=tanh`` then turns ``Whh: orthogonal`` into ``{scheme:
    orthogonal, gain: tanh}`` (a matrix not named yet keeps the scheme it has now).
    Errors name the override: ``override 'model.hidden_size=-3': ...``.
    """
    out = _plain(cfg)
    touched: list[tuple[str, str]] = []  # (schema key, override) in the order applied
    for token in overrides:
        where = f"{source} '{token}'"
        parts, value = _parse_override(token, where)
        field = SCHEMA[_schema_key(parts, where)]
        cell = _cell_of(out)
        if len(parts) > len(field.key.split(".")):
            edited = _edit_init(get(out, field.key), parts[1:], value, where, cell)
            set_key(out, field.key, edited)
        else:
            set_key(out, field.key, value)
        set_key(out, field.key, _check(field, get(out, field.key), where, None, cell))
        touched.append((field.key, where))
    problem = _cross_check(out)
    if problem:
        key, involved, text = problem
        where = next((w for k, w in reversed(touched) if k in involved), source)
        raise RnnInitError(f"{where}: {key}: {text}")
    return _typed(out)


def dump_config(cfg: Config | dict) -> str:
    """YAML text of a resolved config, keys in schema order; ``load_config`` gives it back."""
    plain, ordered = _plain(cfg), {}
    for key in SCHEMA:
        set_key(ordered, key, get(plain, key))
    return yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False, allow_unicode=True)


def get(cfg: Config | dict, dotted_key: str) -> Any:
    """``get(cfg, "model.hidden_size")``: ``cfg.model.hidden_size`` or ``cfg["model"]["hidden_size"]``."""
    if isinstance(cfg, Config):
        return cfg.get(dotted_key)
    node = cfg
    for part in dotted_key.split("."):
        node = node[part]
    return node


def set_key(cfg: dict, dotted_key: str, value: Any) -> None:
    """Set ``cfg["model"]["hidden_size"]`` from ``"model.hidden_size"``, creating sections."""
    *parents, last = dotted_key.split(".")
    node = cfg
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


# ---------------------------------------------------------------------------------------------
# Reference: the same schema as a table for --help and the README.
# ---------------------------------------------------------------------------------------------
def reference_table() -> list[tuple[str, str, str, str]]:
    """One row (key, default, allowed, help) per ``SCHEMA`` key, in schema order."""
    return [(k, _yaml_scalar(f.default), _allowed(f), f.help) for k, f in SCHEMA.items()]


def reference_markdown() -> str:
    """The config reference as a Markdown table (the README's section on configs)."""
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for key, default, allowed, help_text in reference_table():
        cells = [f"`{key}`", f"`{default}`", allowed, help_text]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------------------------------------
# Reading a file.
# ---------------------------------------------------------------------------------------------
def _read_yaml(path: str | os.PathLike) -> tuple[dict, dict[str, int]]:
    """The file's top-level mapping and the line of each dotted key in it."""
    from .corpus import read_user_file

    name = str(path)
    raw = read_user_file(path, name, "a YAML file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RnnInitError(
            f"{name}: not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start})"
        ) from None
    try:
        data = yaml.safe_load(text)  # never yaml.load: a tag must not build a Python object
        lines = _key_lines(yaml.compose(text, Loader=yaml.SafeLoader), name)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f"line {mark.line + 1}: " if mark else ""
        what = (
            "YAML tag not allowed"
            if isinstance(e, yaml.constructor.ConstructorError)
            else "YAML syntax error"
        )
        raise RnnInitError(f"{name}: {at}{what}: {_one_line(e.problem or e.context)}") from None
    except yaml.YAMLError as e:
        raise RnnInitError(f"{name}: YAML error: {_one_line(e)}") from None
    if data is None:
        raise RnnInitError(f"{name}: empty config (write {{}} to use every default)")
    if not isinstance(data, dict):
        raise RnnInitError(
            f"{name}: expected a mapping of {', '.join(TOP_KEYS)} at the top, got {_show(data)}"
        )
    return data, lines


def _key_lines(node, name: str, prefix: str = "", lines: dict | None = None) -> dict[str, int]:
    """Map each dotted key of a composed YAML mapping to its 1-based line; refuse duplicates."""
    lines = {} if lines is None else lines
    if not isinstance(node, yaml.MappingNode):
        return lines
    for key_node, value_node in node.value:
        key = prefix + str(key_node.value)
        line = key_node.start_mark.line + 1
        if key in lines:  # safe_load would silently keep the last one
            raise RnnInitError(
                f"{name}: {key}: duplicate key (line {line}, first at line {lines[key]})"
            )
        lines[key] = line
        _key_lines(value_node, name, key + ".", lines)
    return lines


# ---------------------------------------------------------------------------------------------
# Checking.
# ---------------------------------------------------------------------------------------------
def _merge(base: dict, data: dict, source: str, lines: dict) -> dict:
    """A copy of base with data's values put in; unknown keys and non-mapping sections refused."""
    if not isinstance(data, dict):
        raise RnnInitError(
            f"{source}: expected a mapping of {', '.join(TOP_KEYS)}, got {_show(data)}"
        )
    out = copy.deepcopy(base)
    for top, value in data.items():
        top = str(top)
        if top in SCHEMA:
            out[top] = copy.deepcopy(value)
        elif top in SECTIONS:
            if not isinstance(value, dict):
                raise _error(
                    source,
                    top,
                    f"expected a mapping of {', '.join(SECTIONS[top])}, got {_show(value)}",
                    lines,
                )
            for sub, sub_value in value.items():
                key = f"{top}.{sub}"
                if key not in SCHEMA:
                    raise _error(source, key, _unknown(key), lines)
                out[top][str(sub)] = copy.deepcopy(sub_value)
        else:
            raise _error(source, top, _unknown(top), lines)
    return out


def _validate(cfg: dict, source: str, lines: dict) -> dict:
    """Check every field, then the fields that depend on each other; return the normalised dict."""
    out: dict = {}
    for key, field in SCHEMA.items():  # model.cell comes before init: the init names its params
        set_key(out, key, _check(field, get(cfg, key), source, lines, _cell_of(out)))
    problem = _cross_check(out)
    if problem:
        key, _involved, text = problem
        raise _error(source, key, text, lines)
    return out


def _check(field: Field, value: Any, source: str, lines: dict | None, cell: str = "rnn") -> Any:
    """The normalised value of one field, or RnnInitError naming source and key."""
    if value is None:
        if field.nullable:
            return None
        raise _error(source, field.key, f"expected {_allowed(field)}, got null", lines)
    if field.kind == "init":
        return _check_init(field, value, source, lines, cell)
    ok, norm, hint = _convert(field, value)
    if not ok:
        raise _error(
            source, field.key, f"expected {_allowed(field)}, got {_show(value)}{hint}", lines
        )
    return norm


def _convert(field: Field, value: Any) -> tuple[bool, Any, str]:
    """(accepted, normalised value, hint for the message) for a non-null, non-init value."""
    kind = field.kind
    if kind == "bool":  # YAML's true/false (and yes/no, on/off), never 0/1 or a string
        return isinstance(value, bool), value, ""
    if kind in ("int", "float"):
        is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        is_real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if kind == "int" and not is_int or kind == "float" and not is_real:
            return False, None, _number_hint(field, value)
        num = int(value) if kind == "int" else float(value)
        return math.isfinite(num) and _in_range(field, num), num, ""
    if not isinstance(value, str):
        return False, None, ""
    if kind == "choice":
        names = field.names()
        return value in names, value, suggest(value, names)
    if kind == "name":
        return bool(NAME_RE.fullmatch(value)) and not value.startswith("."), value, ""
    return value != "", value, ""  # kind "str": any non-empty string


def _in_range(field: Field, x: float) -> bool:
    return (
        (field.ge is None or x >= field.ge)
        and (field.gt is None or x > field.gt)
        and (field.le is None or x <= field.le)
        and (field.lt is None or x < field.lt)
    )


def _number_hint(field: Field, value: Any) -> str:
    """PyYAML reads 1e-3 and 1.0e3 (no dot, or no exponent sign) as text; say how to write them."""
    if field.kind != "float" or not isinstance(value, str) or "e" not in value.lower():
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    return f" (YAML reads {value} as text: write {number!r})" if math.isfinite(number) else ""


def _check_init(
    field: Field, value: Any, source: str, lines: dict | None, cell: str = "rnn"
) -> Any:
    """A str or mapping init, checked by ``parse_init`` (core/initspec.py) against the config's
    cell (its parameters and gate blocks); returned as given."""
    from ..core.initspec import parse_init

    if not isinstance(value, (str, dict)):
        raise _error(source, field.key, f"expected {INIT_RULE}, got {_show(value)}", lines)
    try:
        parse_init(value, where=field.key, cell=cell)
    except RnnInitError as e:
        message = str(e)  # already starts with its key path, e.g. "init.Whh: unknown scheme"
        at = _line_of(lines, message.split(":")[0])
        raise RnnInitError(f"{source}: {message}" + (f" (line {at})" if at else "")) from None
    return copy.deepcopy(value)


def _cell_of(cfg: dict) -> str:
    """The cell a (partly built) config names so far; rnn until model.cell is set."""
    cell = cfg.get("model", {}).get("cell", "rnn")
    return cell if isinstance(cell, str) else "rnn"


def _cross_check(cfg: dict) -> tuple[str, tuple[str, ...], str] | None:
    """Rules between fields: (key to blame, keys involved, what was expected) or None."""
    from ..core.initspec import parse_init
    from ..core.tasks import Mnist1dTask

    MNIST1D_LENGTH = Mnist1dTask.length  # noqa: N806
    task = cfg["task"]
    try:  # the init against the final cell (a later model.cell=... may drop a gate it names)
        parse_init(cfg["init"], where="init", cell=_cell_of(cfg))
    except RnnInitError as e:
        key, _, text = str(e).partition(": ")
        return key, ("model.cell", "init"), f"{text} (model.cell: {_cell_of(cfg)})"
    if task["name"] == "adding" and task["seq_len"] < 2:
        why = "expected an integer >= 2 for the adding task (one marker in each half)"
        return "task.seq_len", ("task.name", "task.seq_len"), f"{why}, got {task['seq_len']}"
    if task["name"] == "mnist1d":
        if task["seq_len"] not in (SCHEMA["task.seq_len"].default, MNIST1D_LENGTH):
            why = f"the mnist1d task's length is fixed at {MNIST1D_LENGTH}; leave it unset"
            return "task.seq_len", ("task.name", "task.seq_len"), f"{why}, got {task['seq_len']}"
        task["seq_len"] = MNIST1D_LENGTH  # what the run uses, so config.yaml says so
    elif task["permute"]:
        why = f"expected false for the {task['name']} task (only mnist1d can be permuted)"
        return "task.permute", ("task.name", "task.permute"), f"{why}, got true"
    if cfg["train"]["target_acc"] is not None and task["name"] == "adding":
        why = "expected null for the adding task (no classes, so no accuracy)"
        got = cfg["train"]["target_acc"]
        return "train.target_acc", ("task.name", "train.target_acc"), f"{why}, got {got}"
    if task["path"] is not None and task["name"] != "char":
        why = f"expected null for the {task['name']} task (only char reads a text file)"
        return "task.path", ("task.name", "task.path"), f"{why}, got {_show(task['path'])}"
    return None


# ---------------------------------------------------------------------------------------------
# Overrides.
# ---------------------------------------------------------------------------------------------
def _parse_override(token: str, where: str) -> tuple[list[str], Any]:
    """(dotted key split into parts, value parsed as YAML) of one KEY=VALUE."""
    key, sep, raw = token.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise RnnInitError(f"{where}: expected KEY=VALUE, e.g. model.hidden_size=256")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or e
        raise RnnInitError(
            f"{where}: {key.strip()}: value is not valid YAML: {_one_line(problem)}"
        ) from None
    return parts, value


def _schema_key(parts: list[str], where: str) -> str:
    """The schema key an override's parts address (init accepts sub-keys of its own)."""
    dotted, top = ".".join(parts), parts[0]
    if top in SECTIONS:
        if len(parts) == 1:
            keys = ", ".join(f"{top}.{k}" for k in SECTIONS[top])
            raise RnnInitError(f"{where}: {top}: a section, set one of its keys: {keys}")
        key = f"{top}.{parts[1]}"
    elif top in SCHEMA:
        key = top
    else:
        raise RnnInitError(f"{where}: {dotted}: {_unknown(top)}")
    if key not in SCHEMA:
        raise RnnInitError(f"{where}: {dotted}: {_unknown(key)}")
    if len(parts) > len(key.split(".")) and SCHEMA[key].kind != "init":
        raise RnnInitError(f"{where}: {dotted}: {key} takes a value, not sub-keys")
    return key


def init_mapping(spec) -> dict:
    """An ``InitSpec`` as the explicit init mapping a config records: every matrix named, with
    ``{scheme, gain}`` where the gain is not 1, gate-block overrides and gate-bias parameters,
    and ``spectral_radius`` when it is set (``rnninit.core.initspec.spec_mapping``)."""
    from ..core.initspec import spec_mapping

    return spec_mapping(spec)


def _edit_init(
    init: str | dict, path: list[str], value: Any, where: str, cell: str = "rnn"
) -> dict:
    """A copy of init, as a mapping, with init[path] = value (init.Whh.gain=tanh: path Whh, gain).

    A name becomes {default: name}; a compact 'Whh=orthogonal,Wxh=he' string becomes one entry
    per matrix. An entry edited below its top (its gain) becomes {scheme: ...} first, with the
    scheme it has now, so that init.Whh.gain=tanh keeps Whh's scheme. A gate block is the flat
    key of the init mapping: init.Whh.f=identity sets Whh.f, init.Whh.f.gain=2 its gain.
    """
    from ..core.initspec import ENTRY_KEYS, entry_value, parse_init, scheme_of

    try:
        now = parse_init(init, where="init", cell=cell)  # now.per_param[name] = (scheme, gain)
    except RnnInitError as e:
        raise RnnInitError(f"{where}: {e}") from None
    if isinstance(init, dict):
        out = copy.deepcopy(init)
    elif "=" not in init:
        out = {"default": init}
    else:
        out = init_mapping(now)
    if len(path) >= 2 and path[1] not in ENTRY_KEYS:  # init.Whh.f...: the gate block Whh.f
        path = [f"{path[0]}.{path[1]}", *path[2:]]
    node = out
    for depth, part in enumerate(path[:-1]):
        child = entry_value(node.get(part))  # xavier:1.13 -> {scheme: xavier, gain: 1.13}
        if isinstance(child, str):
            child = {"scheme": child}
        elif not isinstance(child, dict):
            known = scheme_of(now, part) if depth == 0 else None
            child = {"scheme": known} if known else {}
        node[part] = child
        node = child
    node[path[-1]] = value
    return out


# ---------------------------------------------------------------------------------------------
# Messages.
# ---------------------------------------------------------------------------------------------
def _error(source: str, key: str, text: str, lines: dict | None) -> RnnInitError:
    at = _line_of(lines, key)
    return RnnInitError(f"{source}: {key}: {text}" + (f" (line {at})" if at else ""))


def _line_of(lines: dict | None, key: str) -> int | None:
    """The YAML line of a dotted key, or of its nearest parent that has one."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in (lines or {}):
            return lines[".".join(parts[:n])]
    return None


def _unknown(key: str) -> str:
    """'unknown key, did you mean ...? (<section> keys: ...)' for a misspelt dotted key."""
    *parent, leaf = key.split(".")
    if parent:
        allowed = SECTIONS[parent[0]]
        elsewhere = [k for k in SCHEMA if k.endswith("." + leaf)]  # train.seq_len: task.seq_len
        close = closest(leaf, allowed) or next(iter(elsewhere), None)
        listing = f"{parent[0]} keys: {', '.join(allowed)}"
    else:  # a top-level miss may be a key written without its section: hidden_size
        allowed = TOP_KEYS
        close = closest(leaf, TOP_KEYS) or closest(leaf, SCHEMA, cutoff=0.7)
        listing = f"top-level keys: {', '.join(TOP_KEYS)}"
    hint = f", did you mean '{close}'?" if close else ""
    return f"unknown key{hint} ({listing})"


def _allowed(field: Field) -> str:
    """What a field accepts, in words: 'a positive integer', 'one of tanh, relu, linear'."""
    kind = field.kind
    if kind == "bool":
        text = "true or false"
    elif kind == "choice":
        text = "one of " + ", ".join(field.names())
    elif kind == "name":
        text = NAME_RULE
    elif kind == "init":
        text = _init_names()
    elif kind == "str":
        text = "a file path" if field.key == "task.path" else "a non-empty string"
    else:
        text = _number_words(field)
    return text + " or null" if field.nullable else text


def _number_words(field: Field) -> str:
    """'a positive integer', 'a non-negative number', 'a number in [0, 1)', from the bounds."""
    noun = "integer" if field.kind == "int" else "number"
    a_noun = f"an {noun}" if noun == "integer" else f"a {noun}"
    if field.le is not None or field.lt is not None:
        low = field.gt if field.gt is not None else -math.inf
        left = f"[{_num(field.ge)}" if field.ge is not None else f"({_num(low)}"
        right = f"{_num(field.le)}]" if field.le is not None else f"{_num(field.lt)})"
        return f"{a_noun} in {left}, {right}"
    if field.gt == 0 or (noun == "integer" and field.ge == 1):
        return f"a positive {noun}"
    if field.ge == 0:
        return f"a non-negative {noun}"
    if field.ge is not None:
        return f"{a_noun} >= {_num(field.ge)}"
    if field.gt is not None:
        return f"{a_noun} > {_num(field.gt)}"
    return a_noun


def _init_names() -> str:
    """INIT_RULE, naming the schemes and presets of the registry in rnninit.core.inits."""
    inits = importlib.import_module("rnninit.core.inits")
    names = [*getattr(inits, "SCHEMES", {}), *getattr(inits, "PRESETS", {})]
    return f"{INIT_RULE} ({', '.join(dict.fromkeys(names))})" if names else INIT_RULE


def _num(x: float) -> str:
    return str(int(x)) if math.isfinite(x) and float(x).is_integer() else str(x)


def _show(value: Any) -> str:
    """A given value as the user would have typed it, on one short line."""
    if value is None or isinstance(value, (bool, int, float)):
        return _yaml_scalar(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _yaml_scalar(value: Any) -> str:
    """A value as YAML writes it inline: null, true, 0.005, 1.0e-08, run."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def _one_line(x: Any) -> str:
    return " ".join(str(x).split())
