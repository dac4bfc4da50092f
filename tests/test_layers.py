"""The layers of DESIGN section 9: imports point down only, and the package has no import cycle.

Every import statement of every module is read with ``ast`` (those inside functions too: a lazy
import is still a dependency), resolved to the package module it names, and checked against
the rules below. The checks run on the source, so they cannot be fooled by what happens to be
loaded already.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "rnninit"
LEAVES = {
    "rnninit.errors",
    "rnninit._version",
    "rnninit.fileio",
}  # import nothing of the package; any layer may use them
THIRD_PARTY_IN_CORE = {"numpy"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(package modules imported, top-level names of other imports) of one module."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    inner, outer = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                stem = base[: len(base) - node.level + 1]
                module = ".".join(stem + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import mod` imports a module when mod is one; else a name of pkg
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module
                       for a in node.names]  # fmt: skip
        else:
            continue
        for target in targets:
            if target == "rnninit" or target.startswith("rnninit."):
                inner.add(target)
            else:
                outer.add(target.split(".")[0])
    return inner, outer


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    mods = _modules()
    known = set(mods)
    inner, outer = {}, {}
    for name, path in mods.items():
        inner[name], outer[name] = _imports(name, path, known)
    return inner, outer


def _layer(module: str) -> str:
    parts = module.split(".")
    return (
        parts[1]
        if len(parts) > 1 and parts[1] in ("core", "experiment", "report", "cli")
        else module
    )


ALLOWED = {  # which layers each layer may import (besides itself and the leaves)
    "core": set(),
    "report": {"core"},
    "experiment": {"core", "report"},
    "cli": {"core", "report", "experiment"},
}


def test_the_tree_shows_the_layers():
    for layer in ALLOWED:
        assert (PKG / layer / "__init__.py").is_file(), layer
    top = {p.stem for p in PKG.glob("*.py")}
    assert top <= {"__init__", "__main__", "errors", "_version", "fileio"}, top


def test_imports_point_down_only():
    inner, _ = _graph()
    wrong = []
    for module, targets in inner.items():
        layer = _layer(module)
        if layer not in ALLOWED:
            continue
        for target in targets - LEAVES:
            other = _layer(target)
            if other != layer and other not in ALLOWED[layer]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong


def test_nothing_imports_the_cli_but_the_cli_and_the_entry_point():
    inner, _ = _graph()
    users = {m for m, targets in inner.items() if any(_layer(t) == "cli" for t in targets)}
    assert users <= {m for m in inner if _layer(m) == "cli"} | {"rnninit.__main__"}, users


def test_the_core_imports_only_numpy_and_the_standard_library():
    inner, outer = _graph()
    for module in inner:
        if _layer(module) != "core":
            continue
        foreign = (
            outer[module] - set(sys.stdlib_module_names) - THIRD_PARTY_IN_CORE - {"__future__"}
        )
        assert not foreign, f"{module} imports {foreign}"


def test_leaves_import_nothing_of_the_package():
    inner, _ = _graph()
    for leaf in LEAVES:
        assert not inner[leaf], (leaf, inner[leaf])


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    inner, _ = _graph()
    graph = {m: {t for t in targets if t in inner and t != m} for m, targets in inner.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    """The check above is not vacuous: a cycle written by hand is found."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", ["rnninit", "rnninit.core.engine", "rnninit.core.inits",
                                    "rnninit.core.theory", "rnninit.core.critical",
                                    "rnninit.core.tasks"])  # fmt: skip
def test_importing_the_core_loads_no_rendering_or_file_library(module):
    code = (f"import sys, {module}; "
            "print(sorted({'rich', 'typer', 'yaml', 'matplotlib'} & set(sys.modules)))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_broken_module_is_an_internal_error_not_a_missing_command(tmp_path):
    """An ImportError inside the package exits 1 with one line (traceback with --debug)."""
    code = (
        "import sys, importlib.abc\n"
        "class Broken(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'rnninit.experiment.sweep':\n"
        "            raise ImportError('simulated breakage')\n"
        "sys.meta_path.insert(0, Broken())\n"
        "sys.argv = ['rnninit'] + sys.argv[1:]\n"
        "from rnninit.cli import main\n"
        "main()\n"
    )
    for extra in ([], ["--debug"]):
        proc = subprocess.run([sys.executable, "-c", code, *extra, "sweep", "x.yaml"],
                              capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        assert "internal error: ImportError: simulated breakage" in proc.stderr
        assert "No such command" not in proc.stderr + proc.stdout
        assert ("Traceback" in proc.stderr) == bool(extra)
