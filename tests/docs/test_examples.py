# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EXAMPLES users copy: module examples are valid calls, filter examples run and print what they claim."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from fleet.playbook import REPO, ansible_env

BIN = Path(REPO) / ".venv" / "bin"
PLUGINS = Path(REPO) / "plugins"
MODULES = sorted(p.stem for p in (PLUGINS / "modules").glob("*.py") if not p.name.startswith("_"))
FILTERS = sorted(p.stem for p in (PLUGINS / "filter").glob("*.py") if not p.name.startswith("_"))
TEMPLATE = re.compile(r"{{.*}}|{%.*%}", re.S)
# Values the filter examples read from the inventory or from earlier tasks.
FILTER_EXAMPLE_VARS = {
    "lb_weights": {"app1": 100, "app2": 100, "app3": 100, "app4": 100},
    "canary_servers": ["app1"],
    "deploy_canary_steps": [25, 100],
    "deploy_strategy": "auto",
    "deploy_strategy_answers": {"downtime_ok": True},
}


def plugin_docs(kind: str, names: List[str]) -> Dict[str, dict]:
    done = subprocess.run([str(BIN / "ansible-doc"), "--json", "-t", kind] + ["lastmile.deploy." + n for n in names],
                          cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def module_docs() -> Dict[str, dict]:
    return plugin_docs("module", MODULES)


def spec_from_doc(options: dict) -> dict:
    """An argument spec built from the documented options (what a user reads)."""
    spec = {}
    for name, option in options.items():
        entry = {key: option[key] for key in ("type", "choices", "elements", "aliases", "required", "no_log")
                 if key in option}
        if "suboptions" in option:
            entry["options"] = spec_from_doc(option["suboptions"])
        spec[name] = entry
    return spec


def without_templates(value):
    """The literal part of a task's arguments; templated values are only known at run time."""
    if isinstance(value, dict):
        return {k: without_templates(v) for k, v in value.items() if not (isinstance(v, str) and TEMPLATE.search(v))}
    return value


@pytest.mark.parametrize("name", MODULES)
def test_module_examples_are_valid_calls(module_docs, name):
    fqcn = "lastmile.deploy." + name
    doc = module_docs[fqcn]
    tasks = yaml.safe_load(doc["examples"])
    calls = [task[fqcn] for task in tasks if fqcn in task]
    assert calls, "EXAMPLES of %s never call the module" % fqcn
    spec = spec_from_doc(doc["doc"]["options"])
    for args in calls:
        templated = {k for k, v in args.items() if isinstance(v, str) and TEMPLATE.search(v)}
        unknown = set(args) - set(spec) - {a for o in spec.values() for a in o.get("aliases", [])}
        assert not unknown, "%s example uses undocumented options %s" % (fqcn, sorted(unknown))
        checked = {k: dict(v, required=False) if k in templated else v for k, v in spec.items()}
        result = ArgumentSpecValidator(checked).validate(without_templates(args))
        assert not result.error_messages, "%s example %s: %s" % (fqcn, args, result.error_messages)


def claimed_result(comment: str):
    """The Python literal after ``# =>`` (it may run over several comment lines), or None."""
    text = " ".join(line.strip().lstrip("#").strip() for line in comment.splitlines())
    if "=>" not in text:
        return None
    literal = text.split("=>", 1)[1].strip()
    depth = 0
    for index, char in enumerate(literal):
        depth += char in "[{("
        depth -= char in "]})"
        if depth == 0:
            return ast.literal_eval(literal[:index + 1])
    raise AssertionError("unbalanced result comment: %s" % comment)


def filter_examples() -> List[Tuple[str, dict, object]]:
    """Every filter example task with the result its comment claims (None if it claims none)."""
    examples = []
    for name, entry in plugin_docs("filter", FILTERS).items():
        text = entry["examples"]
        starts = [m.start() for m in re.finditer(r"^- name:", text, re.M)] + [len(text)]
        for begin, end in zip(starts, starts[1:]):
            chunk = text[begin:end]
            task = yaml.safe_load(chunk)[0]
            comments = "\n".join(line for line in chunk.splitlines() if line.lstrip().startswith("#"))
            examples.append((name, task, claimed_result(comments)))
    return examples


def test_filter_examples_run_and_give_the_results_they_claim(tmp_path):
    examples = filter_examples()
    assert {example[0].rsplit(".", 1)[1] for example in examples} == set(FILTERS)
    tasks = [dict(example[1], register="example_%d" % index) for index, example in enumerate(examples)]
    out = tmp_path / "results.json"
    tasks.append({"name": "Save the results", "ansible.builtin.copy": {
        "dest": str(out), "mode": "0600",
        "content": "{{ {%s} | to_json }}" % ", ".join("'example_%d': example_%d" % (i, i) for i in range(len(examples)))}})
    playbook = tmp_path / "examples.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Filter examples", "hosts": "localhost", "gather_facts": False,
                                         "vars": FILTER_EXAMPLE_VARS, "tasks": tasks}], sort_keys=False))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
                                                 "children": {"app": {"hosts": {h: {} for h in ["app1", "app2", "app3", "app4"]}}}}}))
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)], cwd=REPO,
                          env=ansible_env(), capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    results = json.loads(out.read_text())
    claims = 0
    for index, (name, task, claim) in enumerate(examples):
        result = results["example_%d" % index]
        assert not result.get("failed"), (name, task["name"], result)
        if claim is not None:
            claims += 1
            assert result["msg"] == claim, "%s example %r prints %r, its comment says %r" % (
                name, task["name"], result["msg"], claim)
    assert claims >= len(FILTERS), "every filter should show at least one result"
