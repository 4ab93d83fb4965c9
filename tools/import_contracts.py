"""An import-linter contract that import-linter does not ship: no cycle between modules.

import-linter's `acyclic_siblings` treats each subpackage as one node, so it also refuses a
package that sits on two layers (the configuration's reader above the core, whose catalog
it fills). What docs/architecture.md asks is narrower: no two modules (files) that reach each
other through imports, annotation-only imports included. This contract finds them with the
graph import-linter builds (grimp) and names one import chain per cycle.

Registered in pyproject.toml (`[tool.importlinter] contract_types`); `lint-imports` runs it
with the others (`make imports`).
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from typing import cast

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output
from importlinter.domain.helpers import module_expressions_to_modules
from importlinter.domain.imports import ModuleExpression

__all__ = ["AcyclicModulesContract", "module_cycles"]


def module_cycles(graph: ImportGraph, modules: Iterable[str]) -> list[list[str]]:
    """The strongly connected components of more than one module among `modules` (Tarjan's
    algorithm, iterative), each sorted, in sorted order."""
    nodes = set(modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & nodes) for m in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            successors = edges[node]
            if position < len(successors):
                work.append((node, position + 1))
                nxt = successors[position]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
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
    return sorted(found)


class AcyclicModulesContract(Contract):
    """No import cycle between the modules of `containers`, except those in `skip`.

    Configuration options:
        - containers: the packages whose modules (at any depth) must not import in a circle.
        - skip:       modules or packages left out, each with its reason in the
                      configuration (optional).
    """

    type_name = "acyclic_modules"

    containers = fields.SetField(subfield=fields.ModuleExpressionField())
    skip = fields.SetField(subfield=fields.ModuleExpressionField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        # import-linter declares the options as field descriptors and sets their parsed
        # values on the instance: sets of module expressions.
        wanted = cast(Set[ModuleExpression], self.containers)
        left_out = cast(Set[ModuleExpression] | None, self.skip) or set()
        containers = module_expressions_to_modules(graph, wanted, raise_if_unmatched=True)
        skipped = module_expressions_to_modules(graph, left_out, as_packages=True,
                                                raise_if_unmatched=True)
        skipped_names = {m.name for m in skipped}
        members = set()
        for container in containers:
            members |= {container.name} | graph.find_descendants(container.name)
        members = {m for m in members
                   if not any(m == s or m.startswith(s + ".") for s in skipped_names)}
        cycles = module_cycles(graph, members)
        chains = [self._chain(graph, cycle) for cycle in cycles]
        return ContractCheck(kept=not cycles, metadata={"chains": chains})

    @staticmethod
    def _chain(graph: ImportGraph, cycle: list[str]) -> list[str]:
        """One circle through the cycle's first module: it, an import of it, and back."""
        start = cycle[0]
        members = set(cycle)
        nxt = sorted(graph.find_modules_directly_imported_by(start) & members)[0]
        back = graph.find_shortest_chain(importer=nxt, imported=start) or (nxt, start)
        return [start, *back]

    def render_broken_contract(self, check: ContractCheck) -> None:
        for chain in check.metadata["chains"]:
            output.print_error(" -> ".join(chain))
            output.new_line()
