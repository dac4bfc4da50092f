"""The README is the front door: its config reference, test command and configs stay true."""

import re
import shlex
from pathlib import Path

import pytest
import yaml
from threadpoolctl import threadpool_limits

from rnninit.errors import RnnInitError
from rnninit.experiment.config import SCHEMA, reference_markdown

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_config_reference_is_generated_from_the_schema():
    assert reference_markdown().strip() in README
    for key in SCHEMA:
        assert f"`{key}`" in README


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme_cmd = (
        re.search(r"pip install -e '\.\[test\]' && (pytest[^\n#]*)", README).group(1).strip()
    )
    assert "pip install -e '.[test]'" in ci
    assert any(line.strip() == readme_cmd for line in ci.splitlines())


def test_no_placeholders_left():
    assert not re.search(r"\b[A-Z]+_(OUTPUT|REFERENCE)\b", README)


def test_every_config_named_in_readme_exists():
    for name in set(re.findall(r"configs/([a-z_]+\.yaml)", README)):
        assert (ROOT / "configs" / name).is_file(), name


def test_every_shipped_config_is_in_the_readme_table_with_a_measured_header():
    """Each configs/*.yaml has a row in the README's table of ready configs, and its header
    says what running it gave, with the date (no 'see below' left in place of a number)."""
    table = README[README.index("Ready configs in `configs/`") :].split("\n\n")[1]
    for path in (ROOT / "configs").glob("*.yaml"):
        assert f"`{path.name}`" in table, path.name
        header = path.read_text(encoding="utf-8").split("\nname:")[0]
        assert "measured lines" not in header, path.name
        if "What the paper reports" in header or "What issue 12 reports" in header:
            assert re.search(r"What (running it|it) (here )?gave[^\n]*\(2026-\d\d-\d\d", header), (
                path.name
            )


def test_rnninit_train_is_the_function_even_after_submodules_load():
    import rnninit
    import rnninit.experiment.compare  # noqa: F401  (loads the training module)

    assert callable(rnninit.train) and rnninit.train.__name__ == "train"
    assert callable(rnninit.init_params)


def documented(verb: str):
    """(file, arguments) of every `rnninit VERB ...` written in the README, the comments of
    configs/*.yaml and the examples of `rnninit VERB --help`."""
    from rnninit.cli import run_cmds, theory_cmds

    module = run_cmds if hasattr(run_cmds, verb) else theory_cmds
    name = f"{module.__name__.rsplit('.', 1)[-1]}.py"
    texts = {
        "README.md": README,
        name: (module.__doc__ or "") + (getattr(module, verb).__doc__ or ""),
    }
    texts.update({p.name: p.read_text(encoding="utf-8") for p in (ROOT / "configs").glob("*.yaml")})
    for name, text in texts.items():
        for match in re.finditer(rf"rnninit {verb} ([^\n#`]+)", text):
            yield name, shlex.split(match.group(1))


REFUSED = {"xavier uniform init.Whh=orthogonal"}  # the README's example of a refused override


def _resolve_documented(args: list[str]) -> dict:
    from rnninit.cli.run_cmds import split_compare_args
    from rnninit.experiment.compare import resolve_inits
    from rnninit.experiment.config import load_config

    config = None
    if "--config" in args:
        i = args.index("--config")
        config, args = ROOT / args[i + 1], args[:i] + args[i + 2 :]
    for option in ("--seeds", "--lr-grid", "--jobs"):
        if option in args:
            i = args.index(option)
            args = args[:i] + args[i + 2 :]
    inits, overrides = split_compare_args(args)
    return resolve_inits(load_config(config, overrides), inits, overrides)


def test_every_documented_compare_resolves():
    commands = list(documented("compare"))
    assert len(commands) >= 8
    for name, args in commands:
        if args[0] == "--resume":  # a compare folder and at most --jobs: nothing to resolve
            assert len(args) == 2 or args[2] == "--jobs", (name, args)
            continue
        if " ".join(args) in REFUSED:
            with pytest.raises(RnnInitError, match="would be dropped"):
                _resolve_documented(args)
        else:
            assert _resolve_documented(args), (name, args)


def test_adding_irnn_compare_varies_whh_alone(tmp_path):
    """The compare line of configs/adding_irnn.yaml changes Whh alone (both runs keep its tiny
    Wxh and Why), and at step 0 the gradient through time stays level with Whh = I and
    vanishes with xavier, as the comment beside it says (steps=0: no training)."""
    from typer.testing import CliRunner

    from rnninit.cli.app import app
    from rnninit.experiment.compare_folder import load_compare

    commands = [a for name, a in documented("compare") if name == "adding_irnn.yaml"]
    (args,) = [a for a in commands if a[:2] == ["Whh=identity", "Whh=xavier"]]  # under "Run:"
    assert "--config" in args
    args = [str(ROOT / a) if a.startswith("configs/") else a for a in args]
    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, ["compare", *args, f"log.runs_dir={runs}", "train.steps=0"])
    assert result.exit_code == 0, result.output
    (root,) = runs.iterdir()
    report = load_compare(root)
    summaries = {label: agg["runs"][0]["summary"] for label, agg in report["inits"].items()}
    drawn = {label: {k: (v["scheme"], v["gain"]) for k, v in s["init"].items()}
             for label, s in summaries.items()}  # fmt: skip
    zeros = {"bh": ("zeros", 1.0), "by": ("zeros", 1.0)}
    tiny = {"Wxh": ("small", 0.1), "Why": ("small", 0.1), **zeros}
    assert drawn == {"Whh-identity": {**tiny, "Whh": ("identity", 1.0)},
                     "Whh-xavier": {**tiny, "Whh": ("xavier", 1.0)}}  # fmt: skip
    for s in summaries.values():  # and each run's config.yaml says so, every matrix named
        recorded = yaml.safe_load((Path(s["run_dir"]) / "config.yaml").read_text())["init"]
        assert recorded["Wxh"] == recorded["Why"] == {"scheme": "small", "gain": 0.1}
    g = {label: agg["step0"]["grad_var"] for label, agg in report["inits"].items()}
    assert 0.1 < g["Whh-identity"][0] / g["Whh-identity"][-1] < 10  # level across t = 50..1
    assert g["Whh-xavier"][0] / g["Whh-xavier"][-1] < 1e-9  # vanishes back in time


def test_every_documented_inits_runs():
    from typer.testing import CliRunner

    from rnninit.cli.app import app

    commands = [
        (name, args) for name, args in documented("inits") if not any("[" in a for a in args)
    ]  # fmt: skip  ("[-n relu]" is a usage note)
    assert len(commands) >= 4
    with threadpool_limits(1):  # eigenvalues of 512 x 512 draws: 4x slower with two threads here
        for name, args in commands:
            result = CliRunner().invoke(app, ["inits", *args])
            assert result.exit_code == 0, (name, args, result.output)


def test_readme_inits_output_is_what_the_command_prints():
    """The README pastes the output of `rnninit inits --shape 512 512` (stdout not a terminal:
    140 columns); it must be what the command prints now, trailing spaces aside."""
    from typer.testing import CliRunner

    from rnninit.cli.app import app

    block = README.split("$ rnninit inits --shape 512 512\n", 1)[1].split("```", 1)[0]
    with threadpool_limits(1):
        result = CliRunner().invoke(app, ["inits", "--shape", "512", "512"])
    assert result.exit_code == 0
    printed = "\n".join(line.rstrip() for line in result.output.splitlines())
    assert block.strip("\n") == printed.strip("\n")


def test_readme_jacobian_outputs_are_what_the_command_prints():
    """The README pastes `rnninit jacobian` for orthogonal against xavier, linear and tanh, at
    T = 100: each must be what the command prints now, trailing spaces aside."""
    from typer.testing import CliRunner

    from rnninit.cli.app import app

    blocks = re.findall(r"\$ rnninit jacobian ([^\n]*)\n(.*?)(?=\n\$ |\n```)", README, re.S)
    assert len(blocks) == 4
    for args, block in blocks:
        with threadpool_limits(1):
            result = CliRunner().invoke(app, ["jacobian", *shlex.split(args)])
        assert result.exit_code == 0, (args, result.output)
        printed = "\n".join(line.rstrip() for line in result.output.splitlines())
        assert block.strip("\n") == printed.strip("\n"), args


def test_every_documented_critical_runs():
    from typer.testing import CliRunner

    from rnninit.cli.app import app

    commands = list(documented("critical"))
    assert len(commands) >= 6
    for name, args in commands:
        result = CliRunner().invoke(app, ["critical", *args])
        assert result.exit_code == 0, (name, args, result.output)


def test_readme_critical_output_is_what_the_command_prints():
    """Each `$ rnninit critical ...` block of the README is what the command prints now (its
    first lines where the README cuts it), trailing spaces aside."""
    from typer.testing import CliRunner

    from rnninit.cli.app import app

    blocks = re.findall(r"\$ rnninit critical([^\n]*)\n(.*?)```", README, flags=re.S)
    assert len(blocks) >= 4
    for args, block in blocks:
        result = CliRunner().invoke(app, ["critical", *shlex.split(args, comments=True)])
        assert result.exit_code == 0
        printed = [line.rstrip() for line in result.output.splitlines()]
        shown = [line.rstrip() for line in block.strip("\n").splitlines()]
        assert shown == printed[: len(shown)], args


def test_every_documented_phase_runs(tmp_path):
    """Every `rnninit phase ...` of the README and --help runs, on a 5-point grid, its files in
    a temporary folder and without --measure (tests/test_phase.py measures)."""
    from typer.testing import CliRunner

    from rnninit.cli.app import app

    commands = list(documented("phase"))
    assert len(commands) >= 4
    for name, args in commands:
        args = [a for a in args if a != "--measure"]
        for option in ("--plot", "--csv"):
            if option in args:
                i = args.index(option)
                args[i + 1] = str(tmp_path / Path(args[i + 1]).name)
        result = CliRunner().invoke(app, ["phase", *args, "--grid", "5"])
        assert result.exit_code == 0, (name, args, result.output)
