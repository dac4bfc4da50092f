"""The config schema: precedence, overrides, round trip, and one clear line for every mistake."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from rnninit.core import optim
from rnninit.errors import RnnInitError
from rnninit.experiment.config import (
    SCHEMA,
    SECTION_TYPES,
    Config,
    absolute_paths,
    apply_overrides,
    defaults,
    dump_config,
    get,
    load_config,
    reference_markdown,
    reference_table,
    set_key,
    validate,
)

ROOT = Path(__file__).parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def write(tmp_path, text, name="a.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path, overrides=()):
    with pytest.raises(RnnInitError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ---------------------------------------------------------------------------------------------
# Precedence: defaults -> file -> overrides.
# ---------------------------------------------------------------------------------------------
def test_defaults_validate_unchanged():
    cfg = defaults()
    typed = validate(cfg, "defaults")
    assert typed.to_dict() == cfg
    assert typed.model.hidden_size == 128 and typed.init == "xavier"
    assert typed.train.eps == 1e-8 and typed.train.target_loss is None


def test_defaults_is_a_fresh_copy():
    cfg = defaults()
    cfg["model"]["hidden_size"] = 7
    assert defaults()["model"]["hidden_size"] == 128


def test_a_resolved_config_is_typed_and_frozen():
    cfg = load_config(None, ["model.hidden_size=64"])
    assert cfg.model.hidden_size == 64 and cfg.get("model.hidden_size") == 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model.hidden_size = 7
    assert cfg.updated({"model.hidden_size": 8}).model.hidden_size == 8
    assert cfg.model.hidden_size == 64  # updated returns a new config
    with pytest.raises(RnnInitError, match="model.hidden_size: expected a positive integer"):
        cfg.updated({"model.hidden_size": -3})


def test_the_typed_fields_are_the_schema_keys():
    """The dataclasses mirror SCHEMA key for key, in order (defaults and rules live there)."""
    typed = []
    for top in dataclasses.fields(Config):
        section = SECTION_TYPES.get(top.name)
        typed += (
            [f"{top.name}.{f.name}" for f in dataclasses.fields(section)] if section else [top.name]
        )
    assert typed == list(SCHEMA)


def test_load_without_file_is_the_defaults():
    assert load_config(None).to_dict() == defaults()
    assert load_config().to_dict() == defaults()


def test_file_overrides_defaults_and_keeps_the_rest(tmp_path):
    path = write(tmp_path, "model:\n  hidden_size: 64\ntrain:\n  lr: 0.01\n")
    cfg = load_config(path)
    assert cfg.model.hidden_size == 64 and cfg.train.lr == 0.01
    expected = defaults()
    expected["model"]["hidden_size"], expected["train"]["lr"] = 64, 0.01
    assert cfg.to_dict() == expected


def test_empty_mapping_file_is_the_defaults(tmp_path):
    assert load_config(write(tmp_path, "{}\n")).to_dict() == defaults()


def test_overrides_beat_the_file_and_later_overrides_win(tmp_path):
    path = write(tmp_path, "model:\n  hidden_size: 64\nseed: 3\n")
    cfg = load_config(path, ["model.hidden_size=32", "seed=4", "seed=5"])
    assert cfg.model.hidden_size == 32 and cfg.seed == 5


@pytest.mark.parametrize(
    "override, key, value",
    [
        ("name=exp_1.a-b", "name", "exp_1.a-b"),
        ("seed=7", "seed", 7),
        ("task.name=copy", "task.name", "copy"),
        ("task.path=some/file.txt", "task.path", "some/file.txt"),
        ("task.val_fraction=0.25", "task.val_fraction", 0.25),
        ("model.nonlinearity=relu", "model.nonlinearity", "relu"),
        ("init=he", "init", "he"),
        ("train.steps=0", "train.steps", 0),
        ("train.optimizer=sgd", "train.optimizer", "sgd"),
        ("train.lr=1", "train.lr", 1.0),
        ("train.eps=1.0e-6", "train.eps", 1e-6),
        ("train.clip=0", "train.clip", 0.0),
        ("train.dtype=float32", "train.dtype", "float32"),
        ("train.target_loss=1.5", "train.target_loss", 1.5),
        ("log.checkpoint_every=10", "log.checkpoint_every", 10),
        ("log.jacobian=true", "log.jacobian", True),
        ("log.jacobian=no", "log.jacobian", False),
        ("log.jacobian_sequences=2", "log.jacobian_sequences", 2),
        ("log.runs_dir=/tmp/elsewhere", "log.runs_dir", "/tmp/elsewhere"),
    ],
)
def test_dotted_override_of_every_kind_of_field(override, key, value):
    cfg = load_config(None, [override])
    assert get(cfg, key) == value and type(get(cfg, key)) is type(value)


def test_null_override_where_allowed(tmp_path):
    path = write(tmp_path, "task:\n  path: x.txt\ntrain:\n  target_loss: 2.0\n")
    cfg = load_config(path, ["task.path=null", "train.target_loss="])
    assert cfg.task.path is None and cfg.train.target_loss is None


def test_init_subkey_override_on_a_string_init():
    cfg = load_config(None, ["init=he", "init.Whh=orthogonal"])
    assert cfg.init == {"default": "he", "Whh": "orthogonal"}
    cfg = apply_overrides(cfg, ["init.Whh.gain=tanh", "init.spectral_radius=0.9"])
    assert cfg.init == {
        "default": "he",
        "Whh": {"scheme": "orthogonal", "gain": "tanh"},
        "spectral_radius": 0.9,
    }


def test_init_gain_override_keeps_the_scheme_a_preset_gave():
    cfg = load_config(None, ["init=keras_default", "init.Whh.gain=0.9", "init.Wxh.gain=tanh"])
    assert cfg.init == {
        "default": "keras_default",
        "Whh": {"scheme": "orthogonal", "gain": 0.9},
        "Wxh": {"scheme": "glorot_uniform", "gain": "tanh"},
    }


def test_init_subkey_override_on_a_compact_init_string():
    cfg = load_config(None, ["init=Whh=orthogonal,Wxh=he", "init.Why=small"])
    assert cfg.init == {
        "Wxh": "he",
        "Whh": "orthogonal",
        "Why": "small",
        "bh": "zeros",
        "by": "zeros",
    }


def test_name_colon_number_is_a_scheme_and_its_gain_in_overrides_and_mappings(tmp_path):
    """`init.Whh=xavier:1.13` and `Whh: xavier:1.13` in YAML read as {scheme: xavier, gain:
    1.13}, as the compact string Whh=xavier:1.13 does; a gate bias's number is its argument."""
    from rnninit.core.initspec import parse_init

    expected = parse_init("Whh=xavier:1.13,Wxh=he:tanh").per_param
    cfg = load_config(None, ["init.Whh=xavier:1.13", "init.Wxh=he:tanh"])
    assert parse_init(cfg.init).per_param == expected
    assert expected["Whh"] == ("xavier", 1.13) and expected["Wxh"] == ("he", 5 / 3)
    path = write(tmp_path, "init:\n  Whh: xavier:1.13\n  Wxh: he:tanh\n")
    assert parse_init(load_config(path).init).per_param == expected
    # a gain edited after NAME:G keeps the scheme
    cfg = load_config(None, ["init.Whh=orthogonal:1.2", "init.Whh.gain=0.9"])
    assert parse_init(cfg.init).per_param["Whh"] == ("orthogonal", 0.9)
    lstm = load_config(None, ["model.cell=lstm", "init.bh=chrono:50"])
    spec = parse_init(lstm.init, cell="lstm")
    assert spec.per_param["bh"][0] == "chrono" and spec.args["bh"] == 50.0


@pytest.mark.parametrize("value, message", [
    ("xavier:-1", "override 'init.Whh=xavier:-1': init.Whh.gain: expected a positive number or "
                  "one of linear, tanh, relu, got '-1'"),
    ("xavir:1.1", "override 'init.Whh=xavir:1.1': init.Whh.scheme: unknown scheme 'xavir' (did "
                  "you mean 'xavier'?)"),
])  # fmt: skip
def test_name_colon_number_is_checked_as_the_compact_form_is(value, message):
    with pytest.raises(RnnInitError) as e:
        load_config(None, [f"init.Whh={value}"])
    assert str(e.value).startswith(message)
    with pytest.raises(RnnInitError) as compact:
        load_config(None, [f"init=Whh={value}"])
    assert str(compact.value).split(": ", 1)[1] == str(e.value).split(": ", 1)[1]


def test_init_subkey_override_edits_a_mapping_from_the_file(tmp_path):
    path = write(tmp_path, "init:\n  Wxh: xavier\n  Whh: identity\n")
    cfg = load_config(path, ["init.Whh=orthogonal"])
    assert cfg.init == {"Wxh": "xavier", "Whh": "orthogonal"}


def test_apply_overrides_and_validate_do_not_mutate_their_input():
    cfg = defaults()
    apply_overrides(cfg, ["model.hidden_size=3", "init.Whh=orthogonal"])
    partial = {"model": {"hidden_size": 8}}
    validate(partial, "config")
    assert cfg == defaults() and partial == {"model": {"hidden_size": 8}}


def test_validate_fills_defaults_and_normalises_numbers():
    cfg = validate({"model": {"hidden_size": 8}, "train": {"lr": 1, "clip": 2}}, "config")
    assert cfg.model.hidden_size == 8 and cfg.seed == 0
    assert type(cfg.train.lr) is float and type(cfg.train.clip) is float
    assert list(cfg.to_dict()) == ["name", "seed", "task", "model", "init", "train", "log"]


def test_allowed_names_come_from_the_registry(monkeypatch):
    with pytest.raises(RnnInitError, match="lion"):
        load_config(None, ["train.optimizer=lion"])
    monkeypatch.setitem(optim.OPTIMIZERS, "lion", optim.OPTIMIZERS["sgd"])
    assert load_config(None, ["train.optimizer=lion"]).train.optimizer == "lion"


def test_get_and_set_key():
    cfg: dict = {}
    set_key(cfg, "model.hidden_size", 3)
    set_key(cfg, "seed", 1)
    assert cfg == {"model": {"hidden_size": 3}, "seed": 1}
    assert get(cfg, "model.hidden_size") == 3
    with pytest.raises(KeyError):
        get(cfg, "model.nonlinearity")


# ---------------------------------------------------------------------------------------------
# Round trip.
# ---------------------------------------------------------------------------------------------
def test_dump_load_round_trip_with_a_mapping_init(tmp_path):
    cfg = load_config(
        None,
        [
            "init.Whh.gain=relu",
            "init.Why={scheme: small, gain: 0.5}",
            "train.lr=0.0003",
            "train.target_loss=0.3333333333333333",
            "train.eps=1.0e-12",
            "task.val_fraction=0.1",
            "name=round.trip",
        ],
    )
    assert cfg.init["Whh"] == {"scheme": "xavier", "gain": "relu"}  # keeps its scheme
    text = dump_config(absolute_paths(cfg))
    assert load_config(write(tmp_path, text)) == absolute_paths(cfg)
    keys = [line.split(":")[0] for line in text.splitlines() if not line.startswith(" ")]
    assert keys == ["name", "seed", "task", "model", "init", "train", "log"]


def test_dump_writes_schema_order_whatever_the_input_order():
    cfg = defaults()
    shuffled = {k: cfg[k] for k in reversed(list(cfg))}
    shuffled["train"] = dict(reversed(list(cfg["train"].items())))
    assert dump_config(shuffled) == dump_config(cfg)


# ---------------------------------------------------------------------------------------------
# Mistakes: one line naming the file (or override), the key, what was expected and given.
# ---------------------------------------------------------------------------------------------
# fmt: off
BAD = [
    # (YAML text or None, overrides, fragments the message must contain)
    ("model:\n  hidden_size: [1, 2\nseed: 1\n", [], ["a.yaml: line 3: YAML syntax error"]),
    ("model: {hidden_size: 3\n", [], ["a.yaml: line", "YAML syntax error"]),
    ("", [], ["a.yaml: empty config"]),
    ("# only a comment\n", [], ["a.yaml: empty config"]),
    ("- task\n- model\n", [], ["a.yaml: expected a mapping", "got a list"]),
    ("hello\n", [], ["a.yaml: expected a mapping", "got 'hello'"]),
    ("modle:\n  hidden_size: 3\n", [], ["a.yaml: modle: unknown key, did you mean 'model'?", "(line 1)"]),
    ("model:\n  hiden_size: 3\n", [], ["a.yaml: model.hiden_size: unknown key, did you mean 'hidden_size'?", "hidden_size, nonlinearity", "(line 2)"]),
    ("hidden_size: 3\n", [], ["hidden_size: unknown key, did you mean 'model.hidden_size'?"]),
    ("model: 5\n", [], ["a.yaml: model: expected a mapping of cell, hidden_size, nonlinearity, got 5"]),
    ("train:\n", [], ["a.yaml: train: expected a mapping", "got null"]),
    ("model:\n  hidden_size: abc\n", [], ["a.yaml: model.hidden_size: expected a positive integer, got 'abc'"]),
    ("model:\n  hidden_size: '64'\n", [], ["model.hidden_size: expected a positive integer, got '64'"]),
    ("model:\n  hidden_size: true\n", [], ["model.hidden_size: expected a positive integer, got true"]),
    ("model:\n  hidden_size: 1.5\n", [], ["model.hidden_size: expected a positive integer, got 1.5"]),
    ("model:\n  hidden_size: 64.0\n", [], ["model.hidden_size: expected a positive integer, got 64.0"]),
    ("model:\n  hidden_size: -3\n", [], ["a.yaml: model.hidden_size: expected a positive integer, got -3 (line 2)"]),
    ("train:\n  batch_size: 0\n", [], ["train.batch_size: expected a positive integer, got 0"]),
    ("seed: -1\n", [], ["a.yaml: seed: expected a non-negative integer, got -1"]),
    ("seed: false\n", [], ["seed: expected a non-negative integer, got false"]),
    ("train:\n  lr: .nan\n", [], ["train.lr: expected a positive number, got nan"]),
    ("train:\n  lr: .inf\n", [], ["train.lr: expected a positive number, got inf"]),
    ("train:\n  clip: -.inf\n", [], ["train.clip: expected a non-negative number, got -inf"]),
    ("train:\n  target_loss: .nan\n", [], ["train.target_loss: expected a positive number or null, got nan"]),
    ("train:\n  lr: 0\n", [], ["train.lr: expected a positive number, got 0"]),
    ("train:\n  lr: 1e-3\n", [], ["train.lr: expected a positive number, got '1e-3' (YAML reads 1e-3 as text: write 0.001)"]),
    (None, ["train.eps=1.0e8"], ["got '1.0e8' (YAML reads 1.0e8 as text: write 100000000.0)"]),
    ("train:\n  momentum: 1.0\n", [], ["train.momentum: expected a number in [0, 1), got 1.0"]),
    ("task:\n  val_fraction: 0.6\n", [], ["task.val_fraction: expected a number in (0, 0.5], got 0.6"]),
    ("train:\n  target_loss: 0\n", [], ["train.target_loss: expected a positive number or null, got 0"]),
    ("train:\n  lr: null\n", [], ["a.yaml: train.lr: expected a positive number, got null"]),
    ("seed:\n", [], ["a.yaml: seed: expected a non-negative integer, got null"]),
    ("init: null\n", [], ["a.yaml: init: expected a scheme or preset name", "got null"]),
    ("init: 5\n", [], ["a.yaml: init: expected a scheme or preset name", "got 5"]),
    ("init: [xavier]\n", [], ["a.yaml: init: expected", "got a list"]),
    ("init: not_a_scheme\n", [], ["a.yaml: init", "not_a_scheme"]),
    ("init:\n  Whh: not_a_scheme\n", [], ["a.yaml: init.Whh", "not_a_scheme"]),
    ("init:\n  Wxh: xavier\n  Whh:\n    scheme: bogus\n", [], ["a.yaml: init.Whh.scheme", "bogus", "(line 4)"]),
    ("task:\n  name: chr\n", [], ["a.yaml: task.name: expected one of", "char", "adding", "copy", "did you mean 'char'?"]),
    ("model:\n  nonlinearity: sigmoid\n", [], ["model.nonlinearity: expected one of tanh, relu, linear, got 'sigmoid'"]),
    ("train:\n  optimizer: adamw\n", [], ["train.optimizer: expected one of sgd, momentum, adagrad, adam, rmsprop, got 'adamw'", "did you mean 'adam'?"]),
    ("train:\n  dtype: float16\n", [], ["train.dtype: expected one of float32, float64, got 'float16'"]),
    ("task:\n  path: 5\n", [], ["task.path: expected a file path or null, got 5"]),
    ("log:\n  runs_dir: ''\n", [], ["log.runs_dir: expected a non-empty string, got ''"]),
    ("log:\n  jacobian: 1\n", [], ["a.yaml: log.jacobian: expected true or false, got 1 (line 2)"]),
    (None, ["log.jacobian=maybe"], ["override 'log.jacobian=maybe': log.jacobian: expected true or false, got 'maybe'"]),
    (None, ["log.jacobian_sequences=0"], ["log.jacobian_sequences: expected a positive integer, got 0"]),
    ("model:\n  hidden_size: 8\n  hidden_size: 16\n", [], ["a.yaml: model.hidden_size: duplicate key (line 3, first at line 2)"]),
    ("name: ../x\n", [], ["a.yaml: name: expected a run name", "got '../x'"]),
    ("name: /abs\n", [], ["name: expected a run name", "got '/abs'"]),
    ("name: a/b\n", [], ["name: expected a run name", "got 'a/b'"]),
    ("name: ..\n", [], ["name: expected a run name", "got '..'"]),
    ("name: .hidden\n", [], ["name: expected a run name", "got '.hidden'"]),
    ("name: ''\n", [], ["name: expected a run name", "got ''"]),
    ("name: a b\n", [], ["name: expected a run name", "got 'a b'"]),
    (f"name: {'x' * 65}\n", [], ["name: expected a run name"]),
    ("name: 2024\n", [], ["name: expected a run name", "got 2024"]),
    ("task:\n  name: adding\n  path: data.txt\n", [], ["a.yaml: task.path: expected null for the adding task", "got 'data.txt' (line 3)"]),
    ("task:\n  name: adding\n  seq_len: 1\n", [], ["a.yaml: task.seq_len: expected an integer >= 2 for the adding task", "got 1 (line 3)"]),
    ("task:\n  seq_len: 0\n", [], ["task.seq_len: expected a positive integer, got 0"]),
    # overrides
    (None, ["foo"], ["override 'foo': expected KEY=VALUE"]),
    (None, ["=5"], ["override '=5': expected KEY=VALUE"]),
    (None, ["model..hidden_size=5"], ["expected KEY=VALUE"]),
    (None, ["model.hidden_size=-3"], ["override 'model.hidden_size=-3': model.hidden_size: expected a positive integer, got -3"]),
    (None, ["model.hiden_size=5"], ["override 'model.hiden_size=5': model.hiden_size: unknown key, did you mean 'hidden_size'?"]),
    (None, ["modle.hidden_size=5"], ["modle.hidden_size: unknown key, did you mean 'model'?"]),
    (None, ["hidden_size=5"], ["did you mean 'model.hidden_size'?"]),
    (None, ["train.seq_len=5"], ["train.seq_len: unknown key, did you mean 'task.seq_len'?"]),
    (None, ["model=5"], ["override 'model=5': model: a section", "model.hidden_size"]),
    (None, ["model.hidden_size.x=5"], ["model.hidden_size takes a value, not sub-keys"]),
    (None, ["model.hidden_size=[1"], ["override 'model.hidden_size=[1'", "not valid YAML"]),
    (None, ["model.hidden_size=1.5"], ["expected a positive integer, got 1.5"]),
    (None, ["train.lr=abc"], ["override 'train.lr=abc': train.lr: expected a positive number, got 'abc'"]),
    (None, ["train.lr=.nan"], ["train.lr: expected a positive number, got nan"]),
    (None, ["seed=null"], ["override 'seed=null': seed: expected a non-negative integer, got null"]),
    (None, ["model.nonlinearity=gelu"], ["expected one of tanh, relu, linear, got 'gelu'"]),
    (None, ["name=../escape"], ["override 'name=../escape': name: expected a run name"]),
    (None, ["task.name=adding", "task.seq_len=1"], ["override 'task.seq_len=1': task.seq_len: expected an integer >= 2"]),
    (None, ["task.path=x.txt", "task.name=copy"], ["override 'task.name=copy': task.path: expected null for the copy task"]),
]
# fmt: on


@pytest.mark.parametrize("text, overrides, fragments", BAD)
def test_bad_input_is_one_clear_line(tmp_path, text, overrides, fragments):
    path = None if text is None else write(tmp_path, text)
    message = error_of(path, overrides)
    for fragment in fragments:
        assert fragment in message, message


def test_enough_bad_inputs_are_covered():
    assert len(BAD) >= 25


def test_python_object_tag_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    text = f'model: !!python/object/apply:os.system ["touch {marker}"]\n'
    message = error_of(write(tmp_path, text))
    assert "a.yaml: line 1: YAML tag not allowed" in message and "python/object" in message
    assert not marker.exists()
    message = error_of(None, [f'name=!!python/object/apply:os.system ["touch {marker}"]'])
    assert "override 'name=" in message and "not valid YAML" in message
    assert not marker.exists()


def test_unreadable_files_are_one_line(tmp_path):
    assert "nope.yaml: no such file" in error_of(tmp_path / "nope.yaml")
    assert "is a directory" in error_of(tmp_path)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    assert "latin1.yaml: not UTF-8" in error_of(latin1)


def test_cross_field_rules_pass_when_fixed_by_later_overrides(tmp_path):
    path = write(tmp_path, "task:\n  path: x.txt\n")
    cfg = load_config(path, ["task.name=adding", "task.path=null", "task.seq_len=2"])
    assert cfg.to_dict()["task"] == {**defaults()["task"], "name": "adding", "seq_len": 2}


def test_validate_names_its_source():
    with pytest.raises(RnnInitError, match=r"^config: model\.hidden_size: .* got 0$"):
        validate({"model": {"hidden_size": 0}}, "config")
    with pytest.raises(RnnInitError, match="did you mean 'train'"):
        validate({"trian": {}}, "config")


# ---------------------------------------------------------------------------------------------
# Ready-made configs, reference, layering.
# ---------------------------------------------------------------------------------------------
def test_there_are_ready_made_configs():
    names = {p.name for p in CONFIGS}
    assert {
        "char_xavier.yaml",
        "char_uniform.yaml",
        "adding_irnn.yaml",
        "copy_orthogonal.yaml",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_ready_made_config_loads(path):
    cfg = load_config(path)
    assert validate(cfg, str(path)) == cfg
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#") and f"rnninit train --config configs/{path.name}" in text


def test_reference_table_covers_every_key_in_schema_order():
    rows = reference_table()
    assert [r[0] for r in rows] == list(SCHEMA)
    assert all(len(r) == 4 and all(isinstance(c, str) and c for c in r) for r in rows)
    by_key = {r[0]: r for r in rows}
    assert by_key["model.hidden_size"][1:3] == ("128", "a positive integer")
    assert by_key["train.eps"][1] == "1.0e-08" and by_key["task.path"][1] == "null"
    assert "relu" in by_key["model.nonlinearity"][2] and "copy" in by_key["task.name"][2]
    markdown = reference_markdown()
    assert all(f"`{key}`" in markdown for key in SCHEMA)


def test_config_does_not_import_the_cli_libraries():
    code = (
        "import sys, rnninit.experiment.config; print(sorted({'rich', 'typer'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# Paths: relative to the YAML file that sets them; ~ expands; a run records them absolute.
# ---------------------------------------------------------------------------------------------
def test_paths_in_a_file_are_relative_to_its_folder(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub", "task:\n  path: ../text.txt\nlog:\n  runs_dir: out\n")
    monkeypatch.chdir("/")
    cfg = load_config(path)
    assert Path(cfg.task.path).resolve() == (tmp_path / "text.txt").resolve()
    assert Path(cfg.log.runs_dir) == tmp_path / "sub" / "out"


def test_paths_on_the_command_line_are_relative_to_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write(tmp_path, "task:\n  path: a.txt\n"), ["log.runs_dir=here"])
    assert cfg.log.runs_dir == "here" and cfg.task.path == str(tmp_path / "a.txt")
    assert absolute_paths(cfg).log.runs_dir == str(tmp_path / "here")


def test_a_tilde_expands_to_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = load_config(write(tmp_path, "task:\n  path: ~/corpus.txt\n"))
    assert cfg.task.path == str(tmp_path / "home" / "corpus.txt")
    cfg = absolute_paths(load_config(None, ["log.runs_dir=~/runs"]))
    assert cfg.log.runs_dir == str(tmp_path / "home" / "runs")
