"""Fail on import cycles between the product's modules (``make lint`` runs it).

The graph comes from grimp (import-linter's engine) over the ``switchboard`` namespace package,
whose portions are the ``src`` folders of libs/, services/ and apps/. Every import counts, at the
top of a module, inside a function or under ``if TYPE_CHECKING:``: deferring an import or
keeping it to type checking hides a cycle from Python, not from the design.

Each strongly connected group of modules is reported as its shortest cycles, one chain per line.
"""

from __future__ import annotations

import importlib
import sys
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "switchboard"
SOURCE_ROOTS = ("libs/*/src", "services/*/src", "apps/*/src")


def product_roots(repo: Path = REPO) -> list[Path]:
    """The ``src`` folders that hold a portion of the ``switchboard`` package."""
    return sorted(
        root for pattern in SOURCE_ROOTS for root in repo.glob(pattern) if (root / PACKAGE).is_dir()
    )


def import_graph(package: str, roots: Iterable[Path]) -> dict[str, set[str]]:
    """Each module of ``package`` (found under ``roots``) and the modules of it that it imports."""
    saved = list(sys.path)
    sys.path[:0] = [str(root) for root in roots]
    importlib.invalidate_caches()
    try:
        graph = grimp.build_graph(package, cache_dir=None)
    finally:
        sys.path[:] = saved
    return {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}


def _strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a deep import chain must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(sorted(group))
    return groups


def _shortest_cycle(graph: Mapping[str, set[str]], start: str, group: set[str]) -> list[str]:
    """The shortest chain ``start -> … -> start`` inside ``group`` (breadth first)."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & group):
            if child == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(came_from[chain[-1]])
                return [*reversed(chain), start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is in a cycle group but has no cycle")


def find_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Import cycles as chains ``[a, b, …, a]``: for each group of modules that import each
    other in a circle, the shortest cycle through each member, without repeats."""
    cycles: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for group in _strongly_connected(graph):
        members = set(group)
        if len(group) == 1 and group[0] not in graph[group[0]]:
            continue
        for module in group:
            cycle = _shortest_cycle(graph, module, members)
            first = cycle.index(min(cycle[:-1]))
            key = tuple(cycle[first:-1] + cycle[:first])
            if key not in seen:
                seen.add(key)
                cycles.append([*key, key[0]])
    return cycles


def main(argv: Sequence[str] = ()) -> int:
    """Print every cycle of the product's imports; exit status 1 if there is any."""
    roots = [Path(arg) for arg in argv] or product_roots()
    cycles = find_cycles(import_graph(PACKAGE, roots))
    for cycle in cycles:
        print(" -> ".join(cycle))
    if cycles:
        print(f"{len(cycles)} import cycle(s) in {PACKAGE}")
        return 1
    print(f"no import cycles in {PACKAGE} ({len(roots)} source roots)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
