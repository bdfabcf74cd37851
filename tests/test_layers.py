"""The import graph between apps has no cycles: an app imports only apps before it in the layer
list of docs/design.md ("Layers"), and never a later one, not even inside a function.

Every module under xiaoer/ is parsed with ast (imports inside functions included). The apps'
own test packages are site level: they test through the public surface and may set up any app.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "xiaoer"
DESIGN = ROOT / "docs" / "design.md"

# Edges that are known to break the rule, with the issue that removes them. Each is also checked
# below as a strict xfail: once the edge is gone, that check fails until the entry is deleted.
KNOWN: dict[tuple[str, str], str] = {}


def layers() -> tuple[dict[str, int], set[str]]:
    """{app: layer index} and the site-level names, from the ```layers block of docs/design.md."""
    block = re.search(r"```layers\n(.*?)```", DESIGN.read_text(encoding="utf-8"), re.S)
    assert block, "docs/design.md has no ```layers block"
    rank: dict[str, int] = {}
    site: set[str] = set()
    for index, line in enumerate(block.group(1).splitlines()):
        if line.startswith("site:"):
            site.update(line.removeprefix("site:").split())
        else:
            rank.update((name, index) for name in line.split())
    return rank, site


def owner(path: Path) -> str:
    """The app (or top-level module) a file belongs to; "tests" for an app's test package."""
    parts = path.relative_to(PACKAGE).parts
    return "tests" if "tests" in parts[:-1] else parts[0].removesuffix(".py")


def imported_apps(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "xiaoer" else [f"xiaoer.{a.name}" for a in node.names]
        else:
            continue
        found += [(node.lineno, name.split(".")[1]) for name in names
                  if name.startswith("xiaoer.") and len(name.split(".")) > 1]
    return found


def edges() -> list[tuple[str, str, str]]:
    """(importer, imported, "path:line") for every import of one app by another."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = owner(path)
        for line, target in imported_apps(ast.parse(path.read_text(encoding="utf-8"))):
            if target != source:
                out.append((source, target, f"{path.relative_to(ROOT)}:{line}"))
    return out


def allowed(source: str, target: str) -> bool:
    rank, site = layers()
    if source in site or source == "tests":
        return True
    return source in rank and target in rank and rank[target] < rank[source]


def test_every_module_belongs_to_a_layer():
    rank, site = layers()
    unknown = sorted({owner(p) for p in PACKAGE.rglob("*.py")} - rank.keys() - site - {"tests", "__init__"})
    assert unknown == [], f"add these to the ```layers block of docs/design.md: {unknown}"


def test_no_app_imports_a_later_one():
    wrong = [f"{where}: {source} → {target}" for source, target, where in edges()
             if not allowed(source, target) and (source, target) not in KNOWN]
    assert wrong == [], "imports against docs/design.md (Layers):\n" + "\n".join(wrong)


@pytest.mark.parametrize("edge", sorted(KNOWN), ids=[f"{a}->{b}" for a, b in sorted(KNOWN)])
@pytest.mark.xfail(strict=True, reason="a known exception, listed in KNOWN; remove the entry once it is gone")
def test_known_exception_is_gone(edge):
    assert edge not in {(s, t) for s, t, _ in edges()}


def test_the_check_sees_imports_inside_functions():
    tree = ast.parse("def f():\n    from xiaoer.assistant import tasks\n    import xiaoer.chat.hub\n")
    assert [t for _, t in imported_apps(tree)] == ["assistant", "chat"]
    assert not allowed("knowledge", "assistant") and not allowed("customers", "chat")
    assert allowed("orders", "chat") and allowed("demo", "orders")
