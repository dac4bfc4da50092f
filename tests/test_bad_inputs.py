"""Every mistake in tests/bad_inputs/ is refused before any work: exit 2, one line on stderr
naming the key, no traceback, no run folder left behind.

Each case is one file: its header says what the one line must contain (`# expect:`), extra
command-line words (`# args:`), the verb (`# verb:`, default train) and whether the file itself
is passed as --config (`# config: none` when it is not; `# as: argument` for a sweep file).
"""

import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnninit.cli.app import app

CASES = Path(__file__).parent / "bad_inputs"
MARKER = Path("/tmp/rnninit-bad-input-marker")


def header(path: Path) -> dict:
    meta = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# ") and ":" in line:
            key, value = line[2:].split(":", 1)
            meta[key.strip()] = value.strip()
    return meta


@pytest.mark.parametrize("case", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_input_is_refused_with_one_line(case, tmp_path, monkeypatch):
    meta = header(case)
    shutil.copytree(CASES / "data", tmp_path / "data")
    shutil.copy(case, tmp_path / case.name)
    monkeypatch.chdir(tmp_path)  # relative paths in the cases point into data/
    MARKER.unlink(missing_ok=True)
    args = [meta.get("verb", "train")]
    if meta.get("as") == "argument":  # a sweep file is the verb's argument, not --config
        args += [case.name]
    elif meta.get("config") != "none":
        args += ["--config", case.name]
    args += shlex.split(meta.get("args", ""))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert meta["expect"] in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr
    if meta.get("config") != "none":
        assert case.name in lines[0], lines[0]  # the file is named
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert not MARKER.exists()  # no YAML tag ever ran a command


def test_corpus_has_at_least_40_cases():
    assert len(list(CASES.glob("*.yaml"))) >= 40
