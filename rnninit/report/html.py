"""The self-contained HTML report of a run, compare or sweep folder (`rnninit report DIR`).

Its tables are the very rich Tables the terminal prints (terminal.run_parts,
compare_view.report_parts, sweep_view.runs_table), turned into HTML tables cell by cell with
their titles, headers, captions and colours, and its sentences are the same strings: the page
and the terminal cannot disagree. Plain data in (those objects, the PNG bytes of the folder's
plots, the names of the files beside it), one HTML string out; nothing here reads or writes a
file. The page fetches nothing: figures are inlined as data URIs, the CSS sits in the page,
there is no script, and the only links are relative ones to the files beside it.
"""

from __future__ import annotations

import base64
import html
import io
import shlex
import time
from dataclasses import dataclass, field
from pathlib import PurePath
from urllib.parse import quote

from rich.console import Console, Group
from rich.errors import MarkupError
from rich.style import Style
from rich.table import Table
from rich.text import Text

from .._version import __version__
from .compare_view import report_parts
from .sweep_view import groups_table, outcome_text, runs_table
from .terminal import blas_text, run_parts

# rich's colour names, as CSS colours that read on white paper and on a screen
COLOURS = {"red": "#b3261e", "green": "#1e7b34", "yellow": "#8a6100", "blue": "#1f5fbf",
           "magenta": "#9c2f86", "cyan": "#00727f", "white": "#555", "black": "#000"}  # fmt: skip

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111;
  background: #fff; margin: 0 auto; padding: 0 1rem 2rem; max-width: 78rem; }
h1 { font-size: 1.4rem; margin: 1rem 0 .3rem; word-break: break-all; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem; border-bottom: 1px solid #ccc; }
nav { font-size: .9rem; } nav a { margin-right: .8rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 40rem) { dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: .3rem; } }
pre, code, td, th { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem; }
.table { margin: 1rem 0; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
table { border-collapse: collapse; font-size: .82rem; }
caption { text-align: left; font-weight: 600; padding: .2rem 0;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
th, td { padding: .15rem .5rem; border-bottom: 1px solid #e3e3e3; vertical-align: top; }
thead th { border-bottom: 2px solid #999; text-align: left; }
table.grid td { border: none; } table.grid { font-size: .88rem; }
tr.end td { border-bottom: 2px solid #999; }
.r { text-align: right; } .c { text-align: center; } .nw { white-space: nowrap; }
.b { font-weight: 700; } .i { font-style: italic; } .dim { opacity: .65; }
p.caption { font-size: .82rem; color: #444; max-width: 60rem; margin: .3rem 0 0; }
p.sentence { margin: .4rem 0; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .85rem; color: #444; }
footer { margin-top: 2rem; font-size: .8rem; color: #555; }
@media print {
  body { max-width: none; font-size: 10pt; } nav { display: none; }
  .scroll { overflow: visible; } table { font-size: 7.5pt; } pre { white-space: pre-wrap; }
  figure, .table, tr { break-inside: avoid; } h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""

TIMESTEPS = "Per-timestep statistics, step 0 and the end"  # the heading of their section
RUN_PLOTS = {
    "variance_by_timestep.png": "Var(h_t) (left) and Var(dL/dh_t) (right) against timestep t, "
    "log scale, one line per statistics step; the mean-field theory dashed at step 0",
    "loss.png": "training loss against step, validation loss as markers, chance and target dotted",
    "jacobian.png": "singular values of dh_t/dh_0: their distribution at a few t (left), "
    "sv_max and sv_min against t (right)",
}
COMPARE_PLOTS = {
    "act_var_step0.png": "Var(h_t) against timestep t at step 0, one line per arm, the "
    "mean-field theory dashed",
    "grad_var_step0.png": "Var(dL/dh_t) against timestep t at step 0, one line per arm",
    "jac_sq_step0.png": "jac_sq, the mean squared singular value of dh_T/dh_t, against t at "
    "step 0, one line per arm, the theory dashed",
    "loss.png": "loss against step per arm, mean ± population std across seeds, chance and "
    "target dotted",
}
FILES = {
    "metrics.csv": "per step: loss, val loss, val acc, grad norm, lr, seconds",
    "timesteps.csv": "per statistics step and timestep: the per-timestep statistics and theory",
    "params.csv": "per statistics step and parameter: weight mean and variance, gradient",
    "jacobian.csv": "per statistics step, t and sequence: singular values of dh_t/dh_0",
    "summary.json": "the run's outcome and record (status, losses, versions, host, BLAS)",
    "config.yaml": "the resolved config",
    "overrides.yaml": "the KEY=VALUE overrides as typed",
    "compare.csv": "one row per arm: the summary's numbers, means and stds over seeds",
    "compare.json": "the arms, their runs and the loss ladder",
    "sweep.csv": "one row per run: outcome, step-0 statistics, the varied keys",
    "sweep.json": "the sweep's plan: every run id and its values",
}


@dataclass
class Page:
    """One report: its title, what was run, the tables and sentences by section, the plots and
    the files beside it."""

    title: str
    facts: list[tuple[str, str]]  # what was run: label, text
    config: tuple[str, str] | None  # (what it is, YAML text)
    setup: list  # rich renderables shown under "what was run"
    sections: list[tuple[str, str, list]]  # (anchor, heading, rich renderables or strings)
    images: list[tuple[str, bytes]]  # (file name, PNG bytes)
    files: list[str]  # names of the files beside the report, linked
    runs: list[tuple[str, str]] = field(default_factory=list)  # (href, name) of run reports
    plot_text: dict[str, str] = field(default_factory=dict)  # file name -> what it shows


# ---------------------------------------------------------------------------------------------
# rich objects -> HTML
# ---------------------------------------------------------------------------------------------
def _console() -> Console:
    """A console that writes nowhere: it resolves style names as the terminal's does."""
    return Console(file=io.StringIO(), color_system="truecolor")


GRID = ' class="grid"'  # a table without a header row (rich's Table.grid)
SECTION_END = ' class="end"'  # a row that ends a section of its table


def _as_text(obj) -> Text:
    """A cell or a sentence as rich would print it: a str is read as console markup."""
    if isinstance(obj, Text):
        return obj
    if not isinstance(obj, str):
        raise TypeError(f"the HTML report cannot show a {type(obj).__name__} in a table cell")
    try:
        return Text.from_markup(obj)
    except MarkupError:  # rich would refuse to print it; the page shows it as written
        return Text(obj)


def _span(text: str, style: Style) -> str:
    escaped = html.escape(text).replace("\n", "<br>")
    classes = [c for c, on in (("b", style.bold), ("i", style.italic), ("dim", style.dim)) if on]
    colour = ""
    if style.color is not None and not style.color.is_default:
        name = style.color.name.removeprefix("bright_")
        colour = COLOURS.get(name) or style.color.get_truecolor().hex
    if not classes and not colour:
        return escaped
    attrs = f' class="{" ".join(classes)}"' if classes else ""
    attrs += f' style="color:{colour}"' if colour else ""
    return f"<span{attrs}>{escaped}</span>"


def inline_html(obj, console: Console, base: Style | None = None) -> str:
    """A str (console markup) or rich Text as escaped HTML, its styles as spans on top of
    `base` (a column's or a row's style, which the cell's own style overrides)."""
    text = _as_text(obj)
    base = (base or Style()) + console.get_style(text.style or "")  # render() leaves it out
    return "".join(_span(seg.text, base + (seg.style or Style())) for seg in text.render(console))


def _column_class(column) -> str:
    classes = [
        {"right": "r", "center": "c"}.get(column.justify, ""),
        "nw" if column.no_wrap else "",
    ]
    classes = [c for c in classes if c]
    return f' class="{" ".join(classes)}"' if classes else ""


def table_html(table: Table, console: Console) -> str:
    """A rich Table as an HTML table: its title as the caption, its header row, every cell with
    the column's justification and style, section ends as a heavier rule; its caption as a
    note under it. A table wider than the screen scrolls on its own."""
    cells = [list(column.cells) for column in table.columns]
    out = [f'<div class="table"><div class="scroll"><table{"" if table.show_header else GRID}>']
    if table.title:
        out.append(f"<caption>{inline_html(table.title, console)}</caption>")
    if table.show_header:
        heads = "".join(f'<th scope="col"{_column_class(c)}>{inline_html(c.header, console)}</th>'
                        for c in table.columns)  # fmt: skip
        out.append(f"<thead><tr>{heads}</tr></thead>")
    out.append("<tbody>")
    for i, row in enumerate(table.rows):
        tds = []
        for column, column_cells in zip(table.columns, cells, strict=True):
            base = console.get_style(column.style or "") + console.get_style(row.style or "")
            tds.append(
                f"<td{_column_class(column)}>{inline_html(column_cells[i], console, base)}</td>"
            )
        out.append(f"<tr{SECTION_END if row.end_section else ''}>{''.join(tds)}</tr>")
    out.append("</tbody></table></div>")
    if table.caption:
        out.append(f'<p class="caption">{inline_html(table.caption, console)}</p>')
    out.append("</div>")
    return "\n".join(out)


def block_html(obj, console: Console) -> str:
    """A renderable the terminal prints on its own: a Table, a Group of them, or a sentence."""
    if isinstance(obj, Table):
        return table_html(obj, console)
    if isinstance(obj, Group):
        return "\n".join(block_html(r, console) for r in obj.renderables)
    if isinstance(obj, str | Text):
        return f'<p class="sentence">{inline_html(obj, console)}</p>'
    raise TypeError(f"the HTML report cannot show a {type(obj).__name__}")


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------
def _setup_html(page: Page, console: Console) -> str:
    """What was run: the facts as a definition list, the setup tables, the config as written."""
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in page.facts)
    out = [f'<dl class="facts">{rows}</dl>', *(block_html(r, console) for r in page.setup)]
    if page.config:
        what, text = page.config
        out.append(f"<p>{html.escape(what)}:</p>\n<pre>{html.escape(text)}</pre>")
    return "\n".join(out)


def _figure(name: str, data: bytes, what: str) -> str:
    src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    alt = html.escape(what, quote=True)
    caption = f"{html.escape(name)}: {html.escape(what)}"
    return f'<figure><img src="{src}" alt="{alt}"><figcaption>{caption}</figcaption></figure>'


def _plot_text(page: Page, name: str) -> str:
    if name in page.plot_text:
        return page.plot_text[name]
    if name.startswith("final_loss_vs_"):
        key = name.removeprefix("final_loss_vs_").removesuffix(".png")
        return f"final loss against {key}, a line per init, mean ± population std over runs"
    return f"plot {name}"


def _link(href: str, text: str, note: str = "") -> str:
    note = f": {html.escape(note)}" if note else ""
    return (
        f'<li><a href="{html.escape(quote(href), quote=True)}">{html.escape(text)}</a>{note}</li>'
    )


def page_html(page: Page) -> str:
    """The whole report as one HTML document (UTF-8), readable on a phone and printable."""
    console = _console()
    sections = [("run", "What was run", _setup_html(page, console))]
    for anchor, heading, parts in page.sections:
        body = "\n".join(block_html(r, console) for r in parts) or "<p>none</p>"
        sections.append((anchor, heading, body))
    figures = "\n".join(_figure(name, data, _plot_text(page, name)) for name, data in page.images)
    sections.append(("plots", "Plots", figures or "<p>no plots in plots/</p>"))
    links = [_link(name, name, FILES.get(name, "")) for name in page.files]
    links += [_link(href, name, "its own report") for href, name in page.runs]
    sections.append(("files", "Files beside this report",
                     f"<ul>{''.join(links)}</ul>" if links else "<p>none</p>"))  # fmt: skip
    nav = " ".join(f'<a href="#{a}">{html.escape(h)}</a>' for a, h, _ in sections)
    body = "\n".join(f'<section id="{a}">\n<h2>{html.escape(h)}</h2>\n{b}\n</section>'
                     for a, h, b in sections)  # fmt: skip
    made = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(page.title)}</title>
<style>{CSS}</style>
</head>
<body>
<header><h1>{html.escape(page.title)}</h1><nav>{nav}</nav></header>
<main>
{body}
</main>
<footer>Written by rnninit {html.escape(__version__)} on {made} from the files of this folder;
<code>rnninit report</code> on the folder writes it again.</footer>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------------
# What was run, and the three kinds of folder
# ---------------------------------------------------------------------------------------------
def setup_facts(argv, summaries: list[dict], extra=()) -> list[tuple[str, str]]:
    """The command, then `extra` facts, then the versions, host and BLAS the runs recorded in
    their summary.json (each distinct value once, in run order)."""

    def each(get) -> str:
        return "; ".join(dict.fromkeys(v for v in map(get, summaries) if v)) or "—"

    return [
        ("command", shlex.join(argv) if argv else "—"),
        *extra,
        ("versions", each(_versions)),
        ("host", each(lambda s: s.get("host"))),
        ("BLAS threads per run, library", each(_blas)),
    ]


def _versions(summary: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in (summary.get("versions") or {}).items())


def _blas(summary: dict) -> str | None:
    blas = summary.get("blas") or {}
    return blas_text(blas) if blas.get("threads") else None


def run_page(run: dict, images, files) -> Page:
    """A run folder's report (run: experiment.reports.load_run's dict)."""
    s = run["summary"]
    parts = run_parts(run)
    when = [("status", s.get("status", "—")), ("started", s.get("started") or "—"),
            ("finished", s.get("finished") or "—")]  # fmt: skip
    return Page(
        title=f"rnninit run {s.get('run_id') or ''}".strip(),
        facts=setup_facts(s.get("argv"), [s], when),
        config=("the resolved config, config.yaml (rnninit train --config on it reruns the run)",
                run["config_text"]),
        setup=parts["header"],
        sections=[("summary", "Summary", parts["summary"]),
                  ("timesteps", TIMESTEPS, parts["timesteps"])],
        images=images, files=files, plot_text=RUN_PLOTS,
    )  # fmt: skip


def compare_page(report: dict, config_text: str | None, images, files, runs) -> Page:
    """A compare folder's report (report: experiment.compare.load_compare's dict)."""
    meta = report["meta"]
    parts = report_parts(report)
    summaries = [rec["summary"] for agg in report["inits"].values() for rec in agg["runs"]]
    when = [("status", meta.get("status", "—")), ("seeds per arm", str(meta.get("seeds", "—"))),
            ("started", meta.get("started") or "—"),
            ("finished", meta.get("finished") or "—")]  # fmt: skip
    return Page(
        title=f"rnninit compare {PurePath(report['dir']).name}",
        facts=setup_facts(meta.get("argv"), summaries, when),
        config=("the config every arm starts from, config.yaml (each run's own config.yaml "
                "records what it ran)", config_text) if config_text else None,
        setup=parts["setup"],
        sections=[("verdict", "Verdict", parts["verdicts"]),
                  ("summary", "Summary", parts["summary"]),
                  ("timesteps", TIMESTEPS, parts["timesteps"])],
        images=images, files=files, runs=runs, plot_text=COMPARE_PLOTS,
    )  # fmt: skip


def sweep_page(sweep: dict, images, files, runs) -> Page:
    """A sweep folder's report (sweep: experiment.reports.load_sweep_report's dict)."""
    plan, report, summaries = sweep["plan"], sweep["report"], sweep["summaries"]
    n = len(report["records"])
    extra = [("sweep file", plan.get("source") or "—"),
             ("varied keys", ", ".join(plan.get("keys", [])) or "—"),
             ("overrides", shlex.join(plan.get("overrides") or []) or "—"),
             ("runs", f"{n} of the {len(plan.get('runs', []))} planned have folders")]  # fmt: skip
    tables = [runs_table(report, f"sweep {plan.get('name', '')}: {n} runs")] if n else []
    if sweep["groups"] is not None:
        by = ", ".join(sweep["groups"]["by"])
        tables.append(groups_table(sweep["groups"], f"the runs grouped by {by}, over seeds"))
    argv = next((s.get("argv") for s in summaries if s.get("argv")), None)
    return Page(
        title=f"rnninit sweep {plan.get('name', '')}",
        facts=setup_facts(argv, summaries, extra),
        config=(f"config.yaml of the first run, {sweep['ids'][0]} (the others differ in the "
                "varied keys)", sweep["config_text"]) if sweep["ids"] else None,
        setup=[],
        sections=[("verdict", "Outcome", [outcome_text(report["records"])]),
                  ("summary", "Summary", tables)],
        images=images, files=files, runs=runs,
    )  # fmt: skip
