# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progressive delivery filters, called directly and through Ansible's own templating.

Both run in a child process: importing controller code (as any filter plugin does) into the test
process switches ansible's module_utils to controller mode, which changes how the module tests
sharing a ``pytest tests/unit`` run see module warnings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import (
    COLLECTIONS,
    REPO,
    ansible_cli,
)

FOUR = {"app1": 100, "app2": 100, "app3": 100, "app4": 100}

# Calls each filter function the way Jinja does, and reports what it returned or raised.
CALL_FILTERS = """
import json, sys
from ansible.errors import AnsibleFilterError
from ansible_collections.lastmile.deploy.plugins.filter import canary_plan, strategy_select, traffic_split

plugins = {"traffic_split": traffic_split, "canary_plan": canary_plan, "strategy_select": strategy_select}
report = {"filters": {name: sorted(plugin.FilterModule().filters()) for name, plugin in plugins.items()},
          "same_function": all(plugin.FilterModule().filters()[name] is getattr(plugin, name)
                               for name, plugin in plugins.items()),
          "results": []}
for name, args in json.load(sys.stdin):
    try:
        report["results"].append({"value": getattr(plugins[name], name)(*args)})
    except AnsibleFilterError as error:
        report["results"].append({"error": str(error)})
    except Exception as error:
        report["results"].append({"unexpected": "%s: %s" % (type(error).__name__, error)})
print(json.dumps(report))
"""

CALLS = [
    ("traffic_split", [FOUR, ["app1"], 10]),
    ("canary_plan", [FOUR, ["app1"]]),
    ("strategy_select", [{"high_risk": "yes"}]),
    ("traffic_split", [FOUR, ["app9"], 10]),
    ("traffic_split", [FOUR, ["app1"], 150]),
    ("canary_plan", [FOUR, ["app1"], [50, 10]]),
    ("strategy_select", [{"risky": True}]),
]


@pytest.fixture(scope="module")
def called():
    """The report of CALL_FILTERS for CALLS, from a child Python with this collection importable."""
    env = ansible_cli()[1]
    env["PYTHONPATH"] = os.pathsep.join(path for path in (COLLECTIONS, env.get("PYTHONPATH")) if path)
    completed = subprocess.run([sys.executable, "-c", CALL_FILTERS], input=json.dumps(CALLS), cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def template(expression: str, extra_vars: dict = None):
    """Render ``expression`` with ``ansible localhost -m debug``; return (exit code, msg or failure text)."""
    ansible, env = ansible_cli()
    command = ansible + ["localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.debug",
                         "-a", "msg={{ %s }}" % expression, "-e", json.dumps(extra_vars or {})]
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = completed.stdout + completed.stderr
    marker = completed.stdout.find("localhost | SUCCESS => ")
    if completed.returncode != 0 or marker < 0:
        return completed.returncode, output
    result = json.JSONDecoder().raw_decode(completed.stdout[marker + len("localhost | SUCCESS => "):])[0]
    return completed.returncode, result["msg"]


def test_each_file_offers_its_filter(called):
    assert called["filters"] == {name: [name] for name in ("traffic_split", "canary_plan", "strategy_select")}
    assert called["same_function"] is True


def test_traffic_split_returns_weights(called):
    assert called["results"][0] == {"value": {"app1": 33, "app2": 100, "app3": 100, "app4": 100}}


def test_canary_plan_returns_one_entry_per_step(called):
    plan = called["results"][1]["value"]
    assert [(step["percent"], step["weights"]["app1"]) for step in plan] == [(10, 33), (50, 256), (100, 100)]
    assert plan[1]["canary_share"] == 0.5


def test_strategy_select_returns_strategy_and_reason(called):
    result = called["results"][2]["value"]
    assert result["strategy"] == "canary"
    assert "high_risk" in result["reason"]


@pytest.mark.parametrize("index, fragment", [(3, "app9"), (4, "percent 150"), (5, "step 2 (10)"), (6, "risky")])
def test_errors_are_filter_errors(called, index, fragment):
    assert list(called["results"][index]) == ["error"], called["results"][index]
    assert fragment in called["results"][index]["error"]


def test_filters_through_ansible():
    code, msg = template(
        "{'split': base | lastmile.deploy.traffic_split(['app1'], 10),"
        " 'plan': base | lastmile.deploy.canary_plan(['app1'], ['12.5', 50]),"
        " 'strategy': {'downtime_ok': 'yes', 'resources_limited': 1} | lastmile.deploy.strategy_select,"
        " 'next': [['app1', 'app2'], ['app3', 'app4', 'app5']] | lastmile.deploy.next_batch('app2')}",
        {"base": {"app1": 1, "app2": 1, "app3": 1, "app4": 1}})
    assert code == 0, msg
    assert msg["split"] == {"app1": 1, "app2": 3, "app3": 3, "app4": 3}
    assert msg["plan"] == [
        {"percent": 12.5, "weights": {"app1": 3, "app2": 7, "app3": 7, "app4": 7}, "canary_share": 0.125},
        {"percent": 50, "weights": {"app1": 3, "app2": 1, "app3": 1, "app4": 1}, "canary_share": 0.5},
    ]
    assert msg["strategy"]["strategy"] == "recreate"
    assert "downtime_ok" in msg["strategy"]["reason"]
    assert msg["next"] == {"hosts": ["app3", "app4", "app5"], "share": ["app4"]}


@pytest.mark.parametrize("expression, fragment", [
    ("{'a': 1, 'b': 200, 'c': 200} | lastmile.deploy.traffic_split(['a'], 0.1)", "percent 0.1 cannot be met"),
    ("{'a': 1, 'b': 1} | lastmile.deploy.canary_plan(['a'], [10, 10])", "step 2 (10)"),
    ("{'high_risk': 'perhaps'} | lastmile.deploy.strategy_select", "high_risk='perhaps'"),
    ("['app1', 'app2'] | lastmile.deploy.next_batch('app1')", "next_batch expects a list of batches (lists of hosts)"),
    ("[['app1']] | lastmile.deploy.next_batch(7)", "next_batch expects a host name, got 7"),
])
def test_filter_errors_through_ansible(expression, fragment):
    code, output = template(expression)
    assert code != 0
    assert fragment in output
