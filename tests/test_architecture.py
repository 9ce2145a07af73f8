"""The layout's rules, read from the code itself: training never depends on set-up or
command-line code; one error hierarchy; only plugin.py touches EPyMARL's registries."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "epymarl_sn"
RUNTIME = ("sn", "envs", "tracking", "runners")  # what a training run imports
FORBIDDEN = ("epymarl_sn.install", "epymarl_sn.cli")


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


def test_the_rules_see_the_runtime_packages():
    found = {p.relative_to(PACKAGE).parts[0] for p in modules()}
    assert {"sn", "envs", "tracking"} <= found
    assert any(
        m == "epymarl_sn.install.packages"
        for m, _ in imported(PACKAGE / "install" / "bootstrap.py")
    ), "the import reader is blind"


@pytest.mark.parametrize("package", RUNTIME)
def test_runtime_packages_never_import_set_up_or_cli_code(package):
    offending = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in sorted((PACKAGE / package).rglob("*.py"))
        for module, line in imported(path)
        if module.startswith(FORBIDDEN)
    ]
    assert offending == []


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


def test_only_plugin_py_writes_to_epymarl_registries():
    writers = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if (
                        isinstance(target, ast.Subscript)
                        and isinstance(target.value, ast.Name)
                        and target.value.id in ("critics", "learners", "envs", "runners")
                    ):
                        writers.append(path.name)
    assert writers and set(writers) == {"plugin.py"}
