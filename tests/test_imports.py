"""The import picture of bench/ keeps one direction (docs/architecture.md, "The house").

Read from the source (every import, also those inside functions; ``if TYPE_CHECKING:`` blocks are type
hints, not dependencies): each package imports only the packages the house allows it, the packages form
no cycle beyond the known one below, and the analysis side never imports locust or gevent, not even
lazily. A second check imports the analysis side in a fresh interpreter and looks at ``sys.modules``.

Two files are entry points on top of the house, not part of a package's layer: ``bench/cli.py`` with
``bench/commands/`` (chatbench's command line) and ``bench/load/locustfile.py`` (Locust's: ``locust -f
bench/load/locustfile.py``), which wires the load side to the live view. Nothing in bench imports them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"

BASE = {"errors", "numbers", "lifeline", "tokens", "records", "stats", "metrics"}
"""What any package may use: the error tree, number formats, the lifeline, tokens, the record contract,
the one percentile definition, the metric registry."""

ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "numbers": set(),
    "lifeline": set(),
    "tokens": {"errors"},
    "records": {"errors"},
    "stats": set(),  # numpy only
    "metrics": {"errors", "records", "stats"},  # the analysis frame it computes on: type hints only
    "servermetrics": BASE,
    "profiles": set(),  # the API profiles: what a server accepts; read by the scenario and the mock
    "scenario": BASE | {"profiles", "mock", "servermetrics"},
    "mock": BASE | {"profiles"},
    "load": BASE | {"scenario", "mock", "servermetrics"},
    "analysis": BASE,
    "report": BASE | {"analysis", "servermetrics", "gates", "compare"},  # capacity's results: type hints only
    "gates": BASE | {"analysis", "scenario"},  # the SLO type lives with the scenario that declares it
    "compare": BASE | {"analysis", "gates"},
    "capacity": BASE | {"analysis", "gates", "load", "scenario", "servermetrics"},  # the sweep drives load
    "instrument": BASE | {"analysis", "load", "mock"},
    "live": BASE | {"analysis", "gates", "load", "report", "scenario", "servermetrics"},
}
"""Package -> the bench packages it may import. ``commands``/``cli`` (the command line) and the locustfile
(Locust's command line) sit on top of all."""

LOCUSTFILE = Path("load/locustfile.py")
"""Counted as its own top node ``locustfile``, not as ``load``: it installs the live view (which reads
load's record hub) on the load side's runner."""

TOP = {"commands", "cli", "__main__", "__init__", "locustfile"}

KNOWN_CYCLES: list[set[str]] = []
"""Package cycles that exist today (no module imports itself through them: see the module test), each
to be broken by its owners; a new one fails the test."""

ANALYSIS_SIDE = ("analysis", "metrics", "report", "gates", "compare")
"""Never import locust or gevent (capacity's sweep driver and instrument's calibration drive load)."""


def _imports(tree: ast.AST) -> list[str]:
    """Every imported module name, leaving out what sits under ``if TYPE_CHECKING:``."""
    out: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out.extend(f"{node.module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _package(path: Path) -> str:
    rel = path.relative_to(BENCH)
    if rel == LOCUSTFILE:
        return "locustfile"
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Package -> bench packages it imports, and package -> third-party top-level modules it imports."""
    inner: dict[str, set[str]] = defaultdict(set)
    outer: dict[str, set[str]] = defaultdict(set)
    for path in BENCH.rglob("*.py"):
        pkg = _package(path)
        for name in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            parts = name.split(".")
            if parts[0] == "bench":
                if (
                    len(parts) > 1
                    and parts[1] != pkg
                    and (BENCH / parts[1]).exists() | (BENCH / f"{parts[1]}.py").exists()
                ):
                    inner[pkg].add(parts[1])
            else:
                outer[pkg].add(parts[0])
    return inner, outer


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in list(graph):
        if v not in index:
            strong(v)
    return found


def test_each_package_imports_only_what_the_house_allows() -> None:
    inner, _ = _graph()
    unknown = set(inner) - set(ALLOWED) - TOP
    assert not unknown, (
        f"new packages {sorted(unknown)}: give them a place in ALLOWED and docs/architecture.md"
    )
    wrong = {
        pkg: sorted(deps - ALLOWED[pkg])
        for pkg, deps in inner.items()
        if pkg in ALLOWED and deps - ALLOWED[pkg]
    }
    assert not wrong, f"imports against the direction of the house: {wrong}"


def test_no_new_import_cycle_between_packages() -> None:
    inner, _ = _graph()
    graph = {pkg: deps - TOP for pkg, deps in inner.items() if pkg not in TOP}
    found = _cycles(graph)
    new = [c for c in found if c not in KNOWN_CYCLES]
    assert not new, f"import cycles between packages: {new}"
    gone = [c for c in KNOWN_CYCLES if c not in found]
    assert not gone, f"known cycles that no longer exist (remove them from KNOWN_CYCLES): {gone}"


def test_nothing_imports_the_entry_points() -> None:
    """The command line and the locustfile are on top: a module that imported one would sit above it."""
    entry = ("bench.cli", "bench.commands", "bench.load.locustfile", "bench.__main__")
    wrong = []
    for path in BENCH.rglob("*.py"):
        if _package(path) in TOP:
            continue
        for name in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if any(name == e or name.startswith(e + ".") for e in entry):
                wrong.append(f"{path.relative_to(BENCH)}: {name}")
    assert not wrong, wrong


def test_no_module_imports_itself_through_others() -> None:
    """Module level, strict: importing ``bench.a.b`` runs ``bench.a`` first, so parents count too."""
    modules = {}
    for path in BENCH.rglob("*.py"):
        parts = path.relative_to(BENCH.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for imported in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            parts = imported.split(".")
            for k in range(2, len(parts) + 1):
                target = ".".join(parts[:k])
                if target in modules and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    assert not _cycles(dict(graph))


def test_the_analysis_side_never_imports_locust_or_gevent() -> None:
    _, outer = _graph()
    for pkg in ANALYSIS_SIDE:
        assert not outer[pkg] & {"locust", "gevent", "geventhttpclient"}, (pkg, sorted(outer[pkg]))
    load_side = outer["load"] | outer["locustfile"]
    assert not load_side & {"pandas", "matplotlib"}, sorted(load_side)


def test_importing_the_analysis_side_loads_no_locust_or_gevent() -> None:
    code = (
        "import sys; import bench.analysis.summary, bench.report, bench.gates.gate, bench.compare.runs, "
        "bench.capacity.plan, bench.metrics; "
        "print(','.join(m for m in ('locust', 'gevent', 'geventhttpclient') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "", out.stdout
