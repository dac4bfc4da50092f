"""`rnninit report`: parse, call the writer for the folder's kind, say where the page is.

A sub-app: cli/app.py attaches it with ``app.add_typer``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import RnnInitError
from .common import handled

app = typer.Typer()


@app.command()
def report(
    folder: Path = typer.Argument(..., help="A run, compare or sweep folder."),
):
    """Write FOLDER/report.html: one self-contained page of a run, compare or sweep folder,
    with what was run (command, config, versions, host, BLAS threads), the verdicts, the
    summary, the per-timestep tables at step 0 and at the end, every plot of the folder
    (inlined) and links to the CSVs beside it. It fetches nothing, so it opens with the
    network off, and it prints. compare and sweep write it when they finish, and every run at
    its end; this command writes it again from the folder.

    Examples:

      rnninit report runs/compare-run-20260101-120000-abcd

      rnninit report runs/sweeps/init_vs_width
    """
    from ..experiment.compare_folder import is_compare_dir, load_compare
    from ..experiment.reports import (
        is_sweep_dir,
        write_compare_report,
        write_run_report,
        write_sweep_report,
    )
    from ..experiment.runs import is_run_dir

    with handled():
        if is_compare_dir(folder):
            path = write_compare_report(folder, load_compare(folder))
        elif is_sweep_dir(folder):
            path = write_sweep_report(folder)
        elif is_run_dir(folder):
            path = write_run_report(folder)
        elif not folder.is_dir():
            what = "no such folder" if not folder.exists() else "not a folder"
            raise RnnInitError(f"{folder}: {what}")
        else:
            raise RnnInitError(f"{folder}: not a run, compare or sweep folder (a run folder "
                               "holds summary.json and config.yaml, a compare folder "
                               "compare.json, a sweep folder sweep.json)")  # fmt: skip
        print(path)
