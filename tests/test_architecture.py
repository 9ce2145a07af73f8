"""The layout's rules, read from the code itself and from docs/architecture.md: every
module is named there under its package; its table of floors is the import graph
between packages, and every import goes down a floor; no module imports itself back,
through any chain of imports; training never loads the commands' tools, set-up or
command-line code (read from the imports, and from a real run's modules); one error
hierarchy; only plugin.py touches EPyMARL's registries."""

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from epymarl_sn.plugin import REGISTRATIONS

from helpers import RWARE_TINY

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "epymarl_sn"
DOC = ROOT / "docs" / "architecture.md"
RUNTIME = ("sn", "envs", "batched", "runners", "tracking")  # what a training run imports
# the commands' tools, set-up and command-line code: never imported by a training run
NOT_RUNTIME = ("board", "sweep", "plot", "install", "cli")
FORBIDDEN = tuple(f"epymarl_sn.{name}" for name in NOT_RUNTIME)


def modules():
    return sorted(PACKAGE.rglob("*.py"))


def imported(path):
    """Every module a file imports, relative imports resolved, with the line."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield module, node.lineno
            for alias in node.names:  # `from epymarl_sn import install`
                yield f"{module}.{alias.name}", node.lineno
    if path == PACKAGE / "plugin.py":  # the components register() imports by name
        for entry in REGISTRATIONS:
            yield entry.component.partition(":")[0], 0


def unit(module):
    """The package of a module as docs/architecture.md names it: `sn/`, `errors.py`;
    None for the root package itself (which every module's import loads anyway)."""
    parts = module.split(".")
    if parts[0] != "epymarl_sn" or len(parts) == 1 or parts[1] == "__init__":
        return None
    return f"{parts[1]}/" if (PACKAGE / parts[1]).is_dir() else f"{parts[1]}.py"


def unit_of(path):
    return unit(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))


def import_graph():
    """{(importer, imported): [where]} between packages, read from every file."""
    graph = {}
    for path in modules():
        for module, line in imported(path):
            source, target = unit_of(path), unit(module or "")
            if target is not None and target != source:
                where = f"{path.relative_to(ROOT)}:{line} imports {module}"
                graph.setdefault((source, target), []).append(where)
    return graph


def doc_section(title):
    text = DOC.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def documented_modules():
    """(package, file) for every file the Packages tree names: ("sn/", "layer.py"),
    (None, "plugin.py")."""
    named, package = set(), None
    for line in doc_section("Packages").splitlines():
        top = re.match(r"^ {6}(\w+/|\w+\.py)\s", line + " ")
        inner = re.match(r"^ {8}(\w+\.py)\s", line + " ")
        if top:
            package = top.group(1) if top.group(1).endswith("/") else None
            if package is None:
                named.add((None, top.group(1)))
        elif inner and package:
            named.add((package, inner.group(1)))
    return named


def documented_floors():
    """{package: (floor, {imported packages})} from the table of What may import what."""
    rows = {}
    for line in doc_section("What may import what").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            (package,) = re.findall(r"`([^`]+)`", cells[1])
            rows[package] = (int(cells[0]), set(re.findall(r"`([^`]+)`", cells[2])))
    return rows


def test_the_rules_see_the_code_and_the_docs():
    found = {p.relative_to(PACKAGE).parts[0] for p in modules()}
    assert {"sn", "envs", "tracking", "runners", "board"} <= found
    assert any(
        m == "epymarl_sn.install.packages"
        for m, _ in imported(PACKAGE / "install" / "bootstrap.py")
    ), "the import reader is blind"
    assert ("sn/", "errors.py") in import_graph(), "the import graph is blind"
    assert ("batched/", "rware.py") in documented_modules(), "the docs reader is blind"
    assert documented_floors()["tracking/"][1] >= {"errors.py"}, "the table reader is blind"


def test_docs_name_every_module_under_its_package():
    code = {
        (None if len(p.relative_to(PACKAGE).parts) == 1 else unit_of(p), p.name)
        for p in modules()
        if p.name != "__init__.py"
    }
    docs = documented_modules()
    assert sorted(code - docs, key=str) == [], "modules missing from docs/architecture.md"
    assert sorted(docs - code, key=str) == [], "docs/architecture.md names modules that are gone"


def test_docs_table_is_the_import_graph_between_packages():
    floors = documented_floors()
    packages = {unit_of(p) for p in modules()} - {None}
    assert sorted(packages - set(floors)) == [], "packages missing from the table"
    assert sorted(set(floors) - packages) == [], "the table names packages that are gone"
    graph = import_graph()
    documented = {(source, target) for source, (_, targets) in floors.items() for target in targets}
    missing = [graph[edge][0] for edge in sorted(set(graph) - documented)]
    assert missing == [], "imports between packages missing from docs/architecture.md"
    assert sorted(documented - set(graph)) == [], "the table names imports that are gone"


def test_every_import_between_packages_goes_down_a_floor():
    floors = documented_floors()
    upward = [
        f"{where[0]} (floor {floors[source][0]} -> {floors[target][0]})"
        for (source, target), where in sorted(import_graph().items())
        if floors[target][0] >= floors[source][0]
    ]
    assert upward == []
    assert all(floors[f"{p}/"][0] < floors[f"{q}/"][0] for p in RUNTIME for q in NOT_RUNTIME)


def module_name(path):
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(
        ".__init__"
    )


def import_cycle():
    """A chain of imports between the package's modules that leads back to where it
    started (at module level or inside a function: either loads the other module), or
    None."""
    paths = {module_name(p): p for p in modules()}
    graph = {
        name: sorted({m for m, _ in imported(path) if m in paths and m != name})
        for name, path in paths.items()
    }
    done, chain = set(), []

    def visit(name):
        if name in chain:
            return chain[chain.index(name) :] + [name]
        if name in done:
            return None
        chain.append(name)
        for target in graph[name]:
            cycle = visit(target)
            if cycle:
                return cycle
        chain.pop()
        done.add(name)
        return None

    return next((c for c in map(visit, sorted(graph)) if c), None)


def test_no_module_imports_itself_back():
    assert "epymarl_sn.runners.backend" in {
        m for m, _ in imported(PACKAGE / "runners" / "vector.py")
    }, "the module reader is blind"
    assert import_cycle() is None


@pytest.mark.parametrize("package", RUNTIME)
def test_runtime_packages_never_import_tools_set_up_or_cli_code(package):
    offending = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in sorted((PACKAGE / package).rglob("*.py"))
        for module, line in imported(path)
        if module.startswith(FORBIDDEN)
    ]
    assert offending == []


# `python src/main.py ARGS` as EPyMARL runs it, then the package's modules it loaded
LOADED_BY_A_RUN = """
import json, os, runpy, sys
sys.argv = sys.argv[1:]
sys.path[0] = os.path.abspath(os.path.dirname(sys.argv[0]))
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    loaded = sorted(m for m in sys.modules if m.startswith("epymarl_sn"))
    print("loaded: " + json.dumps(loaded), file=sys.stderr, flush=True)
"""


def test_a_training_run_loads_no_tool_set_up_or_cli_module(epymarl_dir, tmp_path):
    """A real tiny run of the SN preset (its batched RWARE runner, the SN learner, the
    plugin's observers) loads only what training needs."""
    shutil.copytree(epymarl_dir / "src", tmp_path / "src")
    args = ["--config=mappo_sn", *RWARE_TINY, "t_max=400", "test_interval=200"]
    proc = subprocess.run(
        [sys.executable, "-c", LOADED_BY_A_RUN, "src/main.py", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("loaded: ")]
    loaded = set(json.loads(line[len("loaded: ") :]))
    # what the run used, so that the check below reads a real run's modules
    assert {
        "epymarl_sn.plugin",
        "epymarl_sn.sn.learner",
        "epymarl_sn.batched.rware",
        "epymarl_sn.tracking.observer",
        "epymarl_sn.tracking.files",
    } <= loaded
    assert sorted(m for m in loaded if m.startswith(FORBIDDEN)) == []
    floors = documented_floors()
    assert {unit(m) for m in loaded} - {None} <= {p for p, (f, _) in floors.items() if f <= 5}


def test_every_exception_class_is_in_errors_py_under_one_base():
    classes = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(b).endswith(("Error", "Exception")) for b in node.bases
            ):
                classes.append((path.name, node.name, [ast.unparse(b) for b in node.bases]))
    assert {file for file, _, _ in classes} == {"errors.py"}
    names = {name for _, name, _ in classes}
    roots = [name for _, name, bases in classes if not names & set(bases)]
    assert roots == ["EpymarlSnError"] and len(names) > 1


def is_registry_attribute(expr):
    return isinstance(expr, ast.Attribute) and expr.attr == "REGISTRY"


def registry_writes(path):
    """Lines of a file that write to one of EPyMARL's REGISTRY dicts: a name imported
    as `REGISTRY` or bound to `<module>.REGISTRY`, stored into by subscript."""
    tree = ast.parse(path.read_text())
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            bound |= {a.asname or a.name for a in node.names if a.name == "REGISTRY"}
        elif isinstance(node, ast.Assign) and is_registry_attribute(node.value):
            bound |= {t.id for t in node.targets if isinstance(t, ast.Name)}

    def is_registry(expr):
        return (isinstance(expr, ast.Name) and expr.id in bound) or is_registry_attribute(expr)

    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AugAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Subscript) and is_registry(target.value)
    ]


def test_only_plugin_py_writes_to_epymarl_registries():
    writers = {p.relative_to(ROOT).as_posix() for p in modules() if registry_writes(p)}
    assert writers == {"epymarl_sn/plugin.py"}
