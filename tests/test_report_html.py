"""report.html (issue 14): one self-contained page per run, compare or sweep folder.

The page is read back with the standard library's HTMLParser, never with the code that wrote
it; its numbers are checked against the folder's CSV files at the precision printed, its images
against the PNG files of plots/, and its tables against what the terminal prints.
"""

import base64
import csv
import io
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import matplotlib.image
import pytest
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.testing import CliRunner

from rnninit.cli.app import app
from rnninit.experiment.compare import compare, load_compare
from rnninit.experiment.config import load_config
from rnninit.experiment.runs import read_csv
from rnninit.report.compare_view import summary
from rnninit.report.html import Page, page_html
from rnninit.report.terminal import run_parts

runner = CliRunner()
TEXT = "the cat sat on the mat and the dog sat on the log; " * 60
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input", "wbr", "source"}


class Parsed(HTMLParser):
    """An HTML document's structure and content: unbalanced tags, tables (caption, header row,
    body rows as cell texts, a <br> as a newline), images' and links' attributes, <pre> texts,
    the texts of <dt> and <dd>."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tables, self.images, self.hrefs, self.pres = (
            [],
            [],
            [],
            [],
            [],
            [],
        )
        self.facts = []  # the <dt>, <dd> texts in order
        self.tags = set()
        self._cell = self._row = self._pre = None
        self._in_head = False
        self.feed(text)
        self.close()
        self.errors += [f"<{tag}> never closed" for tag in self.stack]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append({"caption": "", "head": [], "rows": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th", "caption", "dt", "dd"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "a":
            self.hrefs.append(attrs.get("href"))
        elif tag == "pre":
            self._pre = []
        for name, value in attrs.items():
            if name in ("src", "href", "style") and value and "url(" in value:
                self.errors.append(f"<{tag} {name}> fetches {value[:60]}")

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag in ("td", "th"):
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "caption":
            self.tables[-1]["caption"] = "".join(self._cell).strip()
            self._cell = None
        elif tag in ("dt", "dd"):
            self.facts.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self.tables[-1]["head" if self._in_head else "rows"].append(self._row)
        elif tag == "thead":
            self._in_head = False
        elif tag == "pre":
            self.pres.append("".join(self._pre))
            self._pre = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._pre is not None:
            self._pre.append(data)

    def table(self, caption_start: str) -> dict:
        (found,) = [t for t in self.tables if t["caption"].startswith(caption_start)]
        return found


def agrees(printed: str, value: float, unit: str = "") -> bool:
    """Is `printed` (a number as a table shows it: '4.533', '1.8e-05', '58.7%', '1.6x') `value`
    rounded to the digits shown? Within half a unit of its last digit."""
    text = printed.strip().removesuffix(unit)
    scale = 100.0 if unit == "%" else 1.0
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    half = 0.5 * 10.0 ** (int(exponent or 0) - decimals)
    return abs(float(text) - value * scale) <= half * (1 + 1e-9) + 1e-12 * abs(value * scale)


def test_the_precision_check_is_not_vacuous():
    assert agrees("4.533", 4.53293) and agrees("1.8e-05", 1.84e-05) and agrees("58.7%", 0.5871, "%")
    assert not agrees("4.533", 4.5336) and not agrees("1.8e-05", 1.86e-05)
    assert not agrees("58.7%", 0.588, "%") and agrees("1.6x", 1.55, "x")


def check_self_contained(text: str, folder: Path) -> Parsed:
    """The page parses with every tag closed in order, fetches nothing (no http(s), no script,
    no stylesheet link, no url() or @import) and links only to files beside it."""
    page = Parsed(text)
    assert not page.errors, page.errors[:5]
    assert text.startswith("<!DOCTYPE html>") and {"html", "head", "body", "title"} <= page.tags
    assert "http://" not in text and "https://" not in text  # no paper is cited: no link at all
    assert not {"script", "link", "iframe", "object", "embed"} & page.tags
    assert "@import" not in text and "url(" not in text
    for href in page.hrefs:
        assert href.startswith("#") or (folder / unquote(href)).is_file(), href
    for image in page.images:
        assert image["src"].startswith("data:image/png;base64,") and image["alt"]
    return page


def check_images(page: Parsed, folder: Path) -> None:
    """Every PNG of plots/ is in the page once, decodes to the file's own pixels."""
    files = sorted((folder / "plots").glob("*.png"))
    assert files and len(page.images) == len(files)
    inlined = [base64.b64decode(img["src"].split(",", 1)[1], validate=True) for img in page.images]
    for data, path in zip(inlined, files, strict=True):
        assert data.startswith(PNG_SIGNATURE)
        pixels = matplotlib.image.imread(io.BytesIO(data), format="png")
        assert pixels.ndim == 3 and pixels.shape == matplotlib.image.imread(path).shape
        assert data == path.read_bytes()


def terminal_rows(table: Table) -> list[list[str]]:
    """The body rows of a table as the terminal prints it (wide enough to need no wrapping)."""
    console = Console(file=io.StringIO(), width=600, color_system=None)
    console.print(table)
    lines = console.file.getvalue().splitlines()
    return [[c.strip() for c in line.strip().strip("│").split("│")] for line in lines
            if line.startswith("│")]  # fmt: skip


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """A tiny compare of two arms over two seeds where xavier reaches the target loss in both
    seeds and uniform in one, with a target accuracy: every summary column has numbers."""
    tmp = tmp_path_factory.mktemp("compare")
    (tmp / "t.txt").write_text(TEXT)
    cfg = load_config(None, [
        f"log.runs_dir={tmp / 'runs'}", f"task.path={tmp / 't.txt'}", "task.seq_len=5",
        "model.hidden_size=8", "train.steps=12", "train.batch_size=4", "train.lr=0.05",
        "train.target_loss=2.5", "train.target_acc=0.3", "log.stats_every=6",
        "log.eval_every=4", "task.val_batches=2",
    ])  # fmt: skip
    report = compare(cfg, ["xavier", "uniform"], seeds=2)
    return Path(report["dir"])


def test_compare_writes_a_self_contained_report_with_every_plot(compared):
    text = (compared / "report.html").read_text(encoding="utf-8")
    page = check_self_contained(text, compared)
    check_images(page, compared)
    assert "compare.csv" in page.hrefs
    runs = [p for p in compared.iterdir() if (p / "summary.json").is_file()]
    for run in runs:  # each run wrote its own at its end, and the compare links it
        assert f"{run.name}/report.html" in page.hrefs


def test_the_summary_table_holds_compare_csv_numbers_at_the_printed_precision(compared):
    page = Parsed((compared / "report.html").read_text(encoding="utf-8"))
    table = page.table("summary")
    head = table["head"][0]
    rows = {r["init"]: r for r in csv.DictReader(open(compared / "compare.csv", encoding="utf-8"))}
    assert sorted(r[0] for r in table["rows"]) == sorted(rows)
    pm = {"final val loss": "final_val_loss", "best val loss": "best_val_loss",
          "final val acc": "final_val_acc", "ρ(Whh)": "spectral_radius",
          "σmax(Whh)": "max_singular"}  # mean ± population std over seeds  # fmt: skip
    steps = {"steps to target": "target", "steps to acc": "target_acc"}
    speed = {"speed-up": "target", "speed-up (acc)": "target_acc"}
    assert set(head) == {"init", "status", "sat t=T", *pm, *steps, *speed}  # each one checked
    checked = 0
    for cells in table["rows"]:
        row = rows[cells[0]]
        for col, cell in zip(head, cells, strict=True):
            unit = "%" if col in ("final val acc", "sat t=T") else ""
            if col in pm:
                mean, _, std = cell.partition(" ± ")
                assert agrees(mean, float(row[f"{pm[col]}_mean"]), unit), (col, cell)
                assert agrees(std, float(row[f"{pm[col]}_std"]), unit), (col, cell)
                checked += 2
            elif col == "sat t=T":
                assert agrees(cell, float(row["saturation_T_mean"]), "%"), cell
            elif col in steps:
                median, _, seeds = cell.partition(" (")
                key = steps[col]
                want = row[f"steps_to_{key}_median"]
                assert median == "not reached" if want == "" else float(median) == float(want)
                assert seeds == f"{row[f'reached_{key}']}/{row['seeds']})", cell
                checked += want != ""
            elif col in speed:
                want = row[f"speedup_{speed[col]}"]
                assert cell == "—" if want == "" else agrees(cell, float(want), "x"), (col, cell)
                checked += want != ""
            elif col == "status":
                assert cell == "completed" and row["completed"] == row["seeds"]
    assert checked >= 2 * 2 * len(pm) + 3  # the medians and speed-ups are not all empty


def test_the_page_tables_are_the_terminal_tables(compared):
    """The same object rendered twice: cell for cell what the terminal prints."""
    page = Parsed((compared / "report.html").read_text(encoding="utf-8"))
    table = summary(load_compare(compared))
    assert page.table("summary")["rows"] == terminal_rows(table)
    run = next(p for p in compared.iterdir() if (p / "report.html").is_file())
    run_page = Parsed((run / "report.html").read_text(encoding="utf-8"))
    from rnninit.experiment.reports import load_run

    step0 = run_parts(load_run(run))["timesteps"][0]
    assert run_page.table("per-timestep statistics at step 0")["rows"] == terminal_rows(step0)


def test_a_run_report_holds_its_config_and_the_step0_table_of_timesteps_csv(compared):
    run = next(p for p in compared.iterdir() if p.name.startswith("xavier-s0"))
    text = (run / "report.html").read_text(encoding="utf-8")
    page = check_self_contained(text, run)
    check_images(page, run)
    assert (run / "config.yaml").read_text(encoding="utf-8") in page.pres
    for name in ("metrics.csv", "timesteps.csv", "params.csv"):
        assert name in page.hrefs
    rows = read_csv(run / "timesteps.csv")
    at0 = {r["t"]: r for r in rows if r["step"] == 0}
    table = page.table("per-timestep statistics at step 0")
    head, checked = table["head"][0], 0
    # the columns in order, a theory column named after the measurement before it
    columns, last = [], None
    for h in head:
        columns.append(f"theory_{last}" if h == "theory" else h)
        last = h if h != "theory" and ", log" not in h else last
    assert "theory_act_var" in columns and "theory_jac_sq" in columns
    for cells in table["rows"]:
        r = at0[int(cells[0])]
        for col, cell in zip(columns, cells, strict=True):
            if col == "t" or ", log" in col:
                continue
            unit = "%" if col == "saturation" else ""
            assert agrees(cell, r[col], unit), (col, cell, r[col])
            checked += 1
    assert (
        checked == len(at0) * 7
    )  # act_var, theory, grad_var, grad_norm, saturation, jac_sq, theory
    end = max(r["step"] for r in rows)
    assert page.table(f"per-timestep statistics at step {end}")


def test_report_rewrites_the_page_and_prints_its_path(compared):
    (compared / "report.html").unlink()
    result = runner.invoke(app, ["report", str(compared)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(compared / "report.html")
    check_self_contained((compared / "report.html").read_text(encoding="utf-8"), compared)


def test_report_on_a_folder_that_is_no_run_compare_or_sweep_exits_2_with_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    for target, says in ((tmp_path, "not a run, compare or sweep folder"),
                         (tmp_path / "missing", "no such folder"),
                         (tmp_path / "notes.txt", "not a folder")):  # fmt: skip
        result = runner.invoke(app, ["report", str(target)])
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "report.html").exists()


def test_an_interrupted_compare_writes_its_report_with_what_finished(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    cfg = load_config(None, [
        f"log.runs_dir={tmp_path / 'runs'}", f"task.path={tmp_path / 't.txt'}",
        "task.seq_len=5", "model.hidden_size=8", "train.steps=6", "train.batch_size=4",
        "log.stats_every=3", "task.val_batches=1",
    ])  # fmt: skip
    ended = []  # stop once the first run has ended: the second never starts
    report = compare(cfg, ["xavier", "uniform"], jobs=1,
                     on_run_done=lambda label, seed, result: ended.append(result),
                     should_stop=lambda: bool(ended))  # fmt: skip
    root = Path(report["dir"])
    assert report["meta"]["status"] == "interrupted"
    page = check_self_contained((root / "report.html").read_text(encoding="utf-8"), root)
    facts = dict(zip(page.facts[::2], page.facts[1::2], strict=True))
    assert facts["status"] == "interrupted"
    rows = page.table("summary")["rows"]  # the run that finished, and only it
    assert [(cells[0], cells[1]) for cells in rows] == [("xavier", "completed")]


def test_a_sweep_writes_its_report_with_a_row_per_run_of_sweep_csv(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    base = {"task": {"path": str(tmp_path / "t.txt"), "seq_len": 5, "val_batches": 1},
            "model": {"hidden_size": 8}, "train": {"steps": 4, "batch_size": 4},
            "log": {"stats_every": 2, "eval_every": 2,
                    "runs_dir": str(tmp_path / "runs")}}  # fmt: skip
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text(yaml.safe_dump({"name": "tiny", "base": base,
                                          "grid": {"model.hidden_size": [8, 12]}}))  # fmt: skip
    result = runner.invoke(app, ["sweep", str(sweep_file), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    root = tmp_path / "runs" / "sweeps" / "tiny"
    page = check_self_contained((root / "report.html").read_text(encoding="utf-8"), root)
    check_images(page, root)  # the final loss against hidden_size
    table = page.table("sweep tiny")
    rows = list(csv.DictReader(open(root / "sweep.csv", encoding="utf-8")))
    assert len(table["rows"]) == len(rows) == 2
    head = table["head"][0]
    for cells, row in zip(table["rows"], rows, strict=True):
        got = dict(zip(head, cells, strict=True))
        assert got["status"] == row["status"] == "completed"
        assert agrees(got["final loss"], float(row["final_val_loss"]))
        assert got["hidden_size"] == row["model.hidden_size"]
        assert f"{row['run']}/report.html" in map(unquote, page.hrefs)
    # a run whose summary.json cannot be read is shown as unreadable, and the page is written
    (root / rows[0]["run"] / "summary.json").write_text("{ torn")
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    page = check_self_contained((root / "report.html").read_text(encoding="utf-8"), root)
    assert [cells[1] for cells in page.table("sweep tiny")["rows"]] == ["unreadable", "completed"]


def test_the_converter_escapes_text_and_keeps_styles_and_layout():
    table = Table(title="a <title> & more", caption="note [dim]dim[/dim]")
    table.add_column("left\nheader")
    table.add_column("n", justify="right", style="cyan", no_wrap=True)
    table.add_row("<script>x</script>", Text("9.5", style="bold red"))
    html_text = page_html(Page(title="t", facts=[("command", "rnninit x <y>")], config=None,
                               setup=[table], sections=[], images=[], files=[]))  # fmt: skip
    page = Parsed(html_text)
    assert not page.errors and "script" not in page.tags
    (parsed,) = page.tables
    assert parsed["caption"] == "a <title> & more"
    assert parsed["head"] == [["left\nheader", "n"]] and parsed["rows"] == [
        ["<script>x</script>", "9.5"]
    ]
    assert '<td class="r nw"><span class="b" style="color:#b3261e">9.5</span></td>' in html_text
    assert '<span class="dim">dim</span>' in html_text and "rnninit x &lt;y&gt;" in html_text
