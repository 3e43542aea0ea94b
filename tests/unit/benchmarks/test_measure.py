# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""benchmarks/benchkit/measure.py: task steps, task results per host and the gates' cost of a run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "benchmarks"
sys.path.insert(0, str(BENCH))

from benchkit import measure  # noqa: E402  pylint: disable=wrong-import-position

RECAP = """\
TASK [Restart] *****************************************************************
changed: [app2]

PLAY RECAP *********************************************************************
app1                       : ok=7    changed=2    unreachable=0    failed=0    skipped=3    rescued=0    ignored=1
app2                       : ok=6    changed=2    unreachable=0    failed=1    skipped=3    rescued=1    ignored=0
lb1                        : ok=4    changed=4    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
localhost                  : ok=2    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0
"""
# the default callback ends every recap row with spaces
RECAP_LINES = [line + "   " if " : ok=" in line else line for line in RECAP.splitlines()]


def test_recap_rows_are_read_after_the_play_recap_banner_only():
    lines = ["app9 : ok=1 changed=0 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"] + RECAP_LINES
    recap = measure.parse_recap(lines)
    assert sorted(recap) == ["app1", "app2", "lb1", "localhost"]
    assert recap["app2"] == {"ok": 6, "changed": 2, "unreachable": 0, "failed": 1, "skipped": 3, "rescued": 1, "ignored": 0}


def test_results_per_host_counts_each_result_once_and_sets_lb_rows_apart():
    summary = measure.results_per_host(measure.parse_recap(RECAP_LINES), ["app1", "app2"])
    # app1: ok 7 + skipped 3 (changed and ignored are inside ok); app2: 6 + 1 failed + 3 + 1 rescued
    assert summary["app_task_results"] == 21
    assert summary["task_results_per_host"] == 10.5
    assert summary["other_hosts_task_results"] == {"lb1": 4, "localhost": 3}
    assert summary["changed"] == 8
    assert summary["failed"] == 2


def test_results_per_host_names_an_application_host_missing_from_the_recap():
    with pytest.raises(ValueError, match="app3"):
        measure.results_per_host(measure.parse_recap(RECAP_LINES), ["app1", "app3"])


def test_task_banners_count_tasks_and_handlers_not_plays_or_the_recap():
    lines = ["PLAY [deploy] ****", "TASK [a] ****", "ok: [app1]", "TASK [role : b] ****", "RUNNING HANDLER [h] ****",
             "PLAY RECAP ****", "  TASK [quoted in a message]"]
    assert measure.count_task_banners(lines) == 3


def _events(*items):
    return [dict(zip(("event", "t"), item[:2]), **(item[2] if len(item) > 2 else {})) for item in items]


def test_spans_run_from_a_task_start_to_the_next_and_collect_gate_figures():
    events = _events(
        ("start", 0.0),
        ("task", 1.0, {"name": "lock", "action": "deploy_lock", "uuid": "u1"}),
        ("result", 2.2, {"uuid": "u1", "host": "app1", "status": "ok", "cpu_sample_seconds": 1.0}),
        ("result", 2.3, {"uuid": "u1", "host": "app2", "status": "ok", "cpu_sample_seconds": 1.0}),
        ("task", 2.5, {"name": "verify", "action": "health_check", "uuid": "u2"}),
        ("result", 3.6, {"uuid": "u2", "host": "app1", "status": "ok", "health_samples": 20}),
        ("task", 4.0, {"name": "verify", "action": "health_check", "uuid": "u2"}),
        ("result", 5.0, {"uuid": "u2", "host": "app2", "status": "ok", "health_samples": 20}),
        ("task", 5.5, {"name": "skip", "action": "debug", "uuid": "u3"}),
        ("result", 5.6, {"uuid": "u3", "host": "app1", "status": "skipped"}),
        ("end", 6.0),
    )
    spans = measure.task_spans(events)
    assert [(s["name"], s["seconds"]) for s in spans] == [("lock", 1.5), ("verify", 1.5), ("verify", 1.5), ("skip", 0.5)]
    assert spans[1]["health_samples"] == [20] and spans[2]["health_samples"] == [20]
    assert spans[3]["results"] == {"skipped": 1}
    assert measure.top_tasks(spans)[0] == {"task": "verify", "seconds": 3.0, "runs": 2}

    gates = measure.gate_costs(spans, forks=5)
    assert gates == {"verify_tasks": 2, "verify_s": 3.0, "health_samples_per_host": 20, "capacity_tasks": 1,
                     "capacity_task_s": 1.5, "capacity_sample_s": 1.0, "watch_tasks": 0, "watch_s": 0, "gates_s": 4.0}
    # two hosts with one fork sample one after the other
    assert measure.gate_costs(spans, forks=1)["capacity_sample_s"] == 2.0


def test_a_probe_inside_the_switch_counts_its_own_seconds_not_the_restart():
    events = _events(
        ("task", 0.0, {"name": "switch, restart, verify", "action": "app_service", "uuid": "u1"}),
        ("result", 2.5, {"uuid": "u1", "host": "app1", "status": "changed", "health_samples": 20, "verify_seconds": 1.2}),
        ("result", 2.6, {"uuid": "u1", "host": "app2", "status": "changed", "health_samples": 20, "verify_seconds": 1.4}),
        ("task", 3.0, {"name": "traffic back", "action": "haproxy_server", "uuid": "u2"}),
        ("end", 3.5),
    )
    gates = measure.gate_costs(measure.task_spans(events), forks=5)
    assert (gates["verify_tasks"], gates["verify_s"], gates["gates_s"]) == (1, 1.4, 1.4)


def test_a_watch_inside_the_traffic_back_counts_its_window_not_the_restore():
    events = _events(
        ("task", 0.0, {"name": "traffic back, watch", "action": "haproxy_server", "uuid": "u1"}),
        ("result", 3.9, {"uuid": "u1", "host": "app1", "status": "changed", "watch_window_seconds": 3.02}),
        ("task", 4.0, {"name": "next", "action": "debug", "uuid": "u2"}),
        ("end", 4.5),
    )
    gates = measure.gate_costs(measure.task_spans(events), forks=5)
    assert (gates["watch_tasks"], gates["watch_s"], gates["gates_s"]) == (1, 3.02, 3.02)


def test_a_run_without_gates_costs_nothing_for_them():
    spans = measure.task_spans(_events(("task", 0.0, {"name": "a", "action": "command", "uuid": "u"}),
                                       ("result", 0.4, {"uuid": "u", "host": "app1", "status": "changed"})))
    assert spans[0]["seconds"] == 0.4
    assert measure.gate_costs(spans, forks=5)["gates_s"] == 0


PLAYBOOK = """\
- hosts: app
  gather_facts: false
  tasks:
    - name: Report a change
      ansible.builtin.command: "true"
      changed_when: true
    - name: Skip on app2
      ansible.builtin.debug: {msg: skipped}
      when: inventory_hostname == 'app2'
    - name: Fail and carry on
      ansible.builtin.command: "false"
      ignore_errors: true
    - name: Rescue a failure
      block:
        - name: Fail inside the block
          ansible.builtin.fail: {msg: rescued}
      rescue:
        - name: Rescued
          ansible.builtin.debug: {msg: rescued}
"""


@pytest.mark.skipif(not (Path(sys.executable).parent / "ansible-playbook").exists(), reason="needs ansible-playbook")
def test_recap_and_banners_agree_with_the_timeline_of_a_real_run():
    """ansible-playbook with the bench_timeline callback: one result per host and task in both."""
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp, "inventory.yml")
        inventory.write_text(json.dumps({"app": {"hosts": {
            h: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable} for h in ("app1", "app2")}}}))
        Path(tmp, "play.yml").write_text(PLAYBOOK)
        timeline = Path(tmp, "timeline.jsonl")
        env = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=str(BENCH / "callback_plugins"), ANSIBLE_CALLBACKS_ENABLED="bench_timeline",
                   BENCH_TIMELINE=str(timeline), ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1")
        run = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                              str(Path(tmp, "play.yml"))], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, check=False, cwd=tmp)
        assert run.returncode == 0, run.stdout
        lines = run.stdout.splitlines()
        spans = measure.task_spans(measure.read_timeline(timeline.read_text()))
    assert measure.count_task_banners(lines) == len(spans) == 5
    summary = measure.results_per_host(measure.parse_recap(lines), ["app1", "app2"])
    # 5 results per host: command, debug (or skipped), ignored failure, rescued failure, rescue debug
    assert summary["task_results_per_host"] == 5.0
    assert summary["app_task_results"] == sum(sum(s["results"].values()) for s in spans)


def test_the_timeline_finds_gates_inside_a_task_and_inside_a_loop_item(tmp_path, monkeypatch):
    """A probe inside the switch (``health``) and a watch inside one item of the traffic back's loop are found."""
    import importlib.util  # pylint: disable=import-outside-toplevel
    from types import SimpleNamespace  # pylint: disable=import-outside-toplevel

    spec = importlib.util.spec_from_file_location("bench_timeline", BENCH / "callback_plugins" / "bench_timeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    timeline = tmp_path / "timeline.jsonl"
    monkeypatch.setenv("BENCH_TIMELINE", str(timeline))
    callback = module.CallbackModule()

    def result(data):
        return SimpleNamespace(_result=data, _task=SimpleNamespace(_uuid="u1"), _host=SimpleNamespace(get_name=lambda: "app1"))

    callback.v2_runner_on_ok(result({"changed": True, "health": {"stats": {"count": 20}, "seconds": 1.3}}))
    callback.v2_runner_on_ok(result({"changed": True, "results": [{"changed": True},
                                                                  {"changed": True, "watch": {"window_s": 3.01}}]}))
    callback.v2_runner_on_ok(result({"changed": False, "window_s": 2.5}))
    callback.v2_playbook_on_stats(None)
    events = [json.loads(line) for line in timeline.read_text().splitlines()]
    assert (events[0]["health_samples"], events[0]["verify_seconds"]) == (20, 1.3)
    assert events[1]["watch_window_seconds"] == 3.01 and "watch_seconds" not in events[1]
    assert events[2]["watch_seconds"] == 2.5 and "watch_window_seconds" not in events[2]
