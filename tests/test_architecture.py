"""The package's shape, read from its source (ast, nothing imported): no import cycles between modules
(imports inside functions and under TYPE_CHECKING count too), and the layers import only downwards."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gateway"


@dataclass(frozen=True, slots=True)
class Import:
    importer: str  # the importing module
    imported: str  # the gateway module it names
    line: int

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported} (line {self.line})"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _named(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]
) -> Iterator[str]:
    """The gateway modules an import statement names (a `from X import name` names X.name when that is
    a module, X otherwise)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: resolved against the importing module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        yield sub if sub in known else base


def module_imports(name: str, source: str, is_package: bool, known: set[str]) -> list[Import]:
    out = []
    for node in ast.walk(ast.parse(source)):  # every level: module top, functions, TYPE_CHECKING blocks
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        for target in _named(node, name, is_package, known):
            while target and target not in known:  # `import gateway.a.b` of a name: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                out.append(Import(name, target, node.lineno))
    return out


def imports() -> list[Import]:
    found = modules()
    known = set(found)
    return [
        edge
        for name, path in found.items()
        for edge in module_imports(name, path.read_text(), path.name == "__init__.py", known)
    ]


def cycles(edges: list[Import]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.importer, set()).add(e.imported)
        graph.setdefault(e.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


TOP = ("gateway.admin", "gateway.app", "gateway.cli")
BELOW_DATAPLANE = (
    "gateway.routing",
    "gateway.config",
    "gateway.policy",
    "gateway.pricing",
    "gateway.observe",
    "gateway.providers",
)


# Each rule: does this import break it?
RULES: dict[str, Callable[[Import], bool]] = {
    # The admin layer, the app and the CLI sit on top: nothing below them reaches up.
    "top": lambda e: not within(e.importer, *TOP) and within(e.imported, *TOP),
    "core": lambda e: within(e.importer, "gateway.core") and not within(e.imported, "gateway.core"),
    # Translation is pure format conversion: it knows the core values and itself, nothing else.
    "translate": lambda e: (
        within(e.importer, "gateway.translate")
        and not within(e.imported, "gateway.core", "gateway.translate")
    ),
    "dataplane": lambda e: within(e.importer, *BELOW_DATAPLANE) and within(e.imported, "gateway.dataplane"),
}


def offending(rule: str) -> list[str]:
    return [str(e) for e in imports() if RULES[rule](e)]


def test_the_reader_finds_every_kind_of_import() -> None:
    known = {"gateway", "gateway.a", "gateway.a.b", "gateway.a.c", "gateway.d", "gateway.e", "gateway.f"}
    source = """
from typing import TYPE_CHECKING
import json
import gateway.d
from gateway.a import b, some_name
from . import c
from .c import thing
if TYPE_CHECKING:
    from gateway.e import E
def later():
    from gateway.f import F
"""
    found = module_imports("gateway.a.x", source, False, known)
    assert sorted({e.imported for e in found}) == [
        "gateway.a",
        "gateway.a.b",
        "gateway.a.c",
        "gateway.d",
        "gateway.e",
        "gateway.f",
    ]
    assert cycles([Import("a", "b", 1), Import("b", "c", 1), Import("c", "a", 1), Import("c", "d", 1)]) == [
        ["a", "b", "c"]
    ]
    assert len(modules()) > 50 and imports()  # the whole package is read


def test_no_import_cycles() -> None:
    found = cycles(imports())
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param("top", id="only-admin-app-cli-import-admin-app-cli"),
        pytest.param("core", id="core-imports-only-core"),
        pytest.param("translate", id="translate-imports-only-core-and-translate"),
        pytest.param("dataplane", id="lower-layers-never-import-dataplane"),
    ],
)
def test_layers_import_downwards(rule: str) -> None:
    assert offending(rule) == []
