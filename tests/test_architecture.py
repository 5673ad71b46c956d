"""The tree is the architecture: which room may import which, written down once (docs/architecture.md) and checked.

Read from the source with ``ast`` (what a module imports, at any depth, including imports inside functions), so a
new import that points the wrong way fails here rather than in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {
    "app", "settings", "errors", "inference", "storage", "access", "analytics", "web", "compat", "ui", "tools",
    "locales",
}  # fmt: skip

# room -> the rooms of ours it may import. Anything not listed is refused.
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "inference": {"errors"},
    "settings": {"inference"},  # the generation parameters a model server's defaults are checked against
    "storage": {"errors", "inference"},  # inference.types: the records a turn produces
    "access": {"errors", "settings", "storage"},
    "analytics": {"errors", "inference", "storage"},
    "web": {"errors", "inference", "storage", "analytics", "access", "locales"},  # the share page's language
    "compat": {"inference"},  # inference.tgi_chunks: the chunk reader compat installs in huggingface_hub
    "locales": set(),  # the catalogue: data, used by web (share page) and ui
    "tools": {"settings"},  # tools/settings_docs.py writes the configuration reference from Settings
    "ui": OURS - {"app", "tools", "ui"},
    "app": OURS - {"app", "tools"},
}
NO_GRADIO = {"errors", "inference", "settings", "storage", "access", "analytics", "web", "tools"}
# The model server is reached through one adapter (STYLE 4); compat holds the one patch to its stream parser.
HUB_ALLOWED = {"inference/tgi.py"}


def room_of(path: Path) -> str:
    relative = path.relative_to(ROOT)
    return relative.parts[0].removesuffix(".py")


def sources() -> list[Path]:
    rooms = [ROOT / f"{name}.py" for name in ("app", "settings", "errors")]
    for package in ("inference", "storage", "access", "analytics", "web", "compat", "ui", "tools"):
        rooms.extend(sorted((ROOT / package).rglob("*.py")))
    return rooms


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_imports_only_the_rooms_its_room_may(path: Path) -> None:
    room = room_of(path)
    ours = {name.split(".")[0] for name in imported_modules(path)} & OURS
    wrong = ours - MAY_IMPORT[room] - {room}
    assert not wrong, f"{path.relative_to(ROOT)} ({room}/) imports {sorted(wrong)}; allowed: {sorted(MAY_IMPORT[room])}"


@pytest.mark.parametrize(
    "path", [p for p in sources() if room_of(p) in NO_GRADIO], ids=lambda p: str(p.relative_to(ROOT))
)
def test_only_ui_and_compat_import_gradio(path: Path) -> None:
    imported = {name.split(".")[0] for name in imported_modules(path)}
    assert "gradio" not in imported, f"{path.relative_to(ROOT)} imports gradio; only ui/ and compat/ may"


def test_only_the_tgi_adapter_imports_huggingface_hub() -> None:
    importers = {
        str(path.relative_to(ROOT))
        for path in sources()
        if any(name.split(".")[0] == "huggingface_hub" for name in imported_modules(path))
    }
    assert importers <= HUB_ALLOWED | {p for p in importers if p.startswith("compat/")}, importers


def test_the_rules_name_every_room_in_the_tree() -> None:
    """A new top-level package must be given its rules here (and in docs/architecture.md) before it can hold code."""
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests", "benchmarks"}
    assert packages <= set(MAY_IMPORT), sorted(packages - set(MAY_IMPORT))
