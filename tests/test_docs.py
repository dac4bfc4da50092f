"""The README is the front door: its config reference, test command and configs stay true."""

import re
from pathlib import Path

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


def test_rnninit_train_is_the_function_even_after_submodules_load():
    import rnninit
    import rnninit.experiment.compare  # noqa: F401  (loads the training module)

    assert callable(rnninit.train) and rnninit.train.__name__ == "train"
    assert callable(rnninit.init_params)
