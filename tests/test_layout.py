"""The package's rooms keep their one-way arrows: the zoo (models/) and the data path (data/) import nothing of
the package outside themselves, so each can be used, read and tested alone."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "videozoo"


def package_imports(path: Path) -> set[str]:
    """The modules of the package that ``path`` imports (dotted, from ``videozoo``), at any depth in the file."""
    module = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = module[:-1]  # a module's package; for __init__.py, the package itself
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join((*base, node.module)) if node.module else ".".join(base)
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names] if not node.module else [target]
            found.update(n for n in names if n.split(".")[0] == "videozoo")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "videozoo")
    return found


@pytest.mark.parametrize("room", ["models", "data"])
def test_a_room_imports_only_itself(room):
    outside = {}
    for path in sorted((PACKAGE / room).rglob("*.py")):
        bad = sorted(m for m in package_imports(path) if not m.startswith(f"videozoo.{room}"))
        if bad:
            outside[str(path.relative_to(PACKAGE))] = bad
    assert not outside, f"{room}/ imports outside itself: {outside}"


def test_the_check_sees_imports():
    """The parser resolves relative imports (so the test above can fail)."""
    imports = package_imports(PACKAGE / "engine" / "trainer.py")
    assert "videozoo.models.registry" in imports and "videozoo.engine.core" in imports
