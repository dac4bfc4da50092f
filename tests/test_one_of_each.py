"""Issue 8, "one of each": the helpers that had been copied between files exist once, and every
caller goes through the one copy (one atomic writer, one CSV writer, one status rule, ...)."""

import os
from pathlib import Path

import pytest

from rnninit import fileio


def test_runs_corpus_and_plots_write_through_the_one_atomic_writer(tmp_path, monkeypatch):
    from rnninit.experiment import corpus, runs
    from rnninit.report import plots

    made = []
    real = fileio._create_temp

    def spy(path):
        made.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(fileio, "_create_temp", spy)
    runs.write_json(tmp_path / "summary.json", {"status": "running"})
    monkeypatch.setenv("RNNINIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(corpus, "_build_stdlib_docstrings", lambda: "tiny corpus")
    assert corpus.builtin_corpus() == "tiny corpus"
    plots.loss_curve([{"step": 0, "loss": 2.0}, {"step": 1, "loss": 1.0}], tmp_path / "loss.png")
    assert made == ["summary.json", corpus.cache_path().name, "loss.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "loss.png", "summary.json"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomic_files_get_the_permissions_of_the_umask_in_force_when_written(tmp_path, umask):
    """As open() would give: the umask of the moment, not one read when the module was loaded."""
    from rnninit.experiment.runs import write_json

    old = os.umask(umask)
    try:
        write_json(tmp_path / "summary.json", {})
    finally:
        os.umask(old)
    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "a.txt"
    fileio.atomic_write_text(path, "old\n")

    def boom(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        fileio.atomic_write_bytes(path, boom)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
