"""The shape the import contracts cannot state: no import cycle between any two modules of the
package (function-level imports included), and no source file grows past 600 lines."""

from __future__ import annotations

from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[2] / "mailflow"
MAX_LINES = 600


def _cycles(graph: grimp.ImportGraph, modules: list[str]) -> list[list[str]]:
    """Strongly connected sets of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if not child.startswith("mailflow"):
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
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
    return found


def test_no_import_cycle_between_modules():
    graph = grimp.build_graph("mailflow")
    modules = sorted(m for m in graph.modules if m.startswith("mailflow"))
    assert len(modules) > 100, "the graph was not built from the package"
    assert _cycles(graph, modules) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for name in ("mailflow.a", "mailflow.b", "mailflow.c"):
        graph.add_module(name)
    graph.add_import(importer="mailflow.a", imported="mailflow.b")
    graph.add_import(importer="mailflow.b", imported="mailflow.a")
    graph.add_import(importer="mailflow.b", imported="mailflow.c")
    assert _cycles(graph, ["mailflow.a", "mailflow.b", "mailflow.c"]) == [
        ["mailflow.a", "mailflow.b"]
    ]


def test_no_source_file_is_a_heap():
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in PACKAGE.rglob("*.py")
        if "migrations/versions" not in str(path)
        and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
