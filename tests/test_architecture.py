"""ARCHITECTURE.md's import table holds: each layer imports only what it may."""

import ast
from pathlib import Path

import conformance

PACKAGE = Path(conformance.__file__).parent
ALLOWED = {
    "core": set(),
    "requirements": {"core"},
    "scenarios": {"core", "requirements"},
    "validation": {"core"},
    "transport": {"core"},
    "generation": {"core", "validation"},
    "checks": {"core", "validation", "scenarios"},
    "simulators": {"core", "validation", "transport"},
    "engine": {"core", "requirements", "scenarios", "validation", "transport", "checks", "simulators", "generation"},
    "reporting": {"core", "engine.events"},
    "reference": {"core"},
}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name.removeprefix("conformance.") for name in found if name.startswith("conformance.")}


def test_layers_import_only_what_they_may():
    violations = []
    for layer, allowed in ALLOWED.items():
        for path in (PACKAGE / layer).rglob("*.py"):
            for target in imports_of(path):
                if target.split(".")[0] == layer or target in allowed or target.split(".")[0] in allowed:
                    continue
                violations.append(f"{path.relative_to(PACKAGE)} imports conformance.{target}")
    assert violations == []


def test_every_layer_is_in_the_table():
    layers = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert layers == set(ALLOWED)


def test_architecture_document_lists_every_layer():
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert all(f"`{layer}`" in text for layer in ALLOWED)
