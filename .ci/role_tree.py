# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check that the roles of lastmile.deploy form a tree: calls only point down, and no role reaches itself.

Layers, top to bottom: strategy roles (the plan of a strategy), the engine (runs a plan), step roles (one job
each). A strategy role may include the engine and step roles; the engine only step roles; a step role no other
role. Any include_role/import_role cycle fails too.

Usage: python .ci/role_tree.py [ROOT]   prints the edges; exit status 1 on a violation.
"""

from __future__ import annotations

import os
import sys
from typing import Dict, Iterator, List, Set, Tuple

import yaml

STRATEGY_ROLES = frozenset(("rolling", "canary", "blue_green", "recreate", "rollback"))
ENGINE_ROLES = frozenset(("engine",))
ROLE_ACTIONS = frozenset(("include_role", "import_role", "ansible.builtin.include_role", "ansible.builtin.import_role",
                          "ansible.legacy.include_role", "ansible.legacy.import_role"))
PREFIX = "lastmile.deploy."


def layer(role: str) -> int:
    """0 for a strategy role, 1 for the engine, 2 for a step role."""
    if role in STRATEGY_ROLES:
        return 0
    if role in ENGINE_ROLES:
        return 1
    return 2


def _tasks(node) -> Iterator[dict]:
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
            if key in node:
                yield from _tasks(node[key])


def included_roles(path: str) -> List[str]:
    """The lastmile.deploy roles a task file or playbook includes or imports."""
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    found = []
    for task in _tasks(document):
        for action in ROLE_ACTIONS & set(task):
            args = task[action]
            name = args.get("name", "") if isinstance(args, dict) else ""
            if isinstance(name, str) and (name.startswith(PREFIX) or "." not in name):
                found.append(name[len(PREFIX):] if name.startswith(PREFIX) else name)
    return found


def role_edges(root: str) -> Set[Tuple[str, str]]:
    """(role, included role) for every include between two different roles under ``root``/roles."""
    edges = set()
    roles_dir = os.path.join(root, "roles")
    for role in sorted(os.listdir(roles_dir)):
        tasks_dir = os.path.join(roles_dir, role, "tasks")
        if not os.path.isdir(tasks_dir):
            continue
        for name in sorted(os.listdir(tasks_dir)):
            if name.endswith((".yml", ".yaml")):
                edges.update((role, target) for target in included_roles(os.path.join(tasks_dir, name)) if target != role)
    return edges


def find_cycle(edges: Set[Tuple[str, str]]) -> List[str]:
    """One cycle as a list of roles (first == last), or []."""
    graph: Dict[str, List[str]] = {}
    for source, target in sorted(edges):
        graph.setdefault(source, []).append(target)
    state: Dict[str, int] = {}
    path: List[str] = []

    def visit(role: str) -> List[str]:
        state[role] = 1
        path.append(role)
        for target in graph.get(role, []):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[role] = 2
        return []

    for role in sorted(graph):
        if role not in state:
            cycle = visit(role)
            if cycle:
                return cycle
    return []


def violations(edges: Set[Tuple[str, str]]) -> List[str]:
    """Every include that does not point down a layer, and any cycle."""
    problems = ["%s includes %s: a role may only include roles of a lower layer (strategy > engine > step)"
                % (source, target) for source, target in sorted(edges) if layer(target) <= layer(source)]
    cycle = find_cycle(edges)
    if cycle:
        problems.append("include cycle: %s" % " -> ".join(cycle))
    return problems


def main(argv: List[str]) -> int:
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    edges = role_edges(root)
    for source, target in sorted(edges, key=lambda edge: (layer(edge[0]), edge)):
        print("%s -> %s" % (source, target))
    problems = violations(edges)
    for problem in problems:
        print("role_tree: %s" % problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
