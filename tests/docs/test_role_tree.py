"""The role tree check of .ci/role_tree.py: the collection passes it, and it catches what it is for."""

from __future__ import annotations

import importlib.util
import os
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SPEC = importlib.util.spec_from_file_location("role_tree", os.path.join(ROOT, ".ci", "role_tree.py"))
role_tree = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(role_tree)


def _role(root, role, text, name="main.yml"):
    tasks = root / "roles" / role / "tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    (tasks / name).write_text(textwrap.dedent(text))


def _include(role, entry="main"):
    return """
    - name: Include {0}
      block:
        - name: Nested
          ansible.builtin.include_role:
            name: lastmile.deploy.{0}
            tasks_from: {1}
    """.format(role, entry)


def test_the_collection_roles_form_a_tree():
    edges = role_tree.role_edges(ROOT)
    assert ("rolling", "engine") in edges
    assert role_tree.violations(edges) == []


def test_a_cycle_through_a_nested_block_is_found(tmp_path):
    _role(tmp_path, "engine", _include("traffic"))
    _role(tmp_path, "traffic", _include("verify"))
    _role(tmp_path, "verify", _include("traffic", "restore"), name="probe.yml")
    problems = role_tree.violations(role_tree.role_edges(str(tmp_path)))
    assert "include cycle: traffic -> verify -> traffic" in problems
    assert role_tree.main(["role_tree", str(tmp_path)]) == 1


@pytest.mark.parametrize("source, target", [("traffic", "verify"), ("engine", "rolling"), ("canary", "rolling")])
def test_an_include_that_does_not_point_down_is_refused(tmp_path, source, target):
    _role(tmp_path, source, _include(target))
    assert role_tree.violations(role_tree.role_edges(str(tmp_path))) == [
        "%s includes %s: a role may only include roles of a lower layer (strategy > engine > step)" % (source, target)]


def test_a_role_including_its_own_entry_points_is_no_edge(tmp_path):
    _role(tmp_path, "engine", _include("engine", "batch"))
    assert role_tree.role_edges(str(tmp_path)) == set()
