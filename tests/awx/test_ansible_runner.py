# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lastmile.deploy.deploy run the way AWX and Automation Controller run a job: through ansible-runner,
with a private data dir, the job template's extra vars and the survey answers in env/extravars (the
answers marked !unsafe, as AWX writes them), against a real local fleet."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

import ansible_runner
import pytest
import yaml

from fleet import Fleet
from fleet.addresses import free_base_address
from fleet.playbook import COLLECTIONS, FAST_GATES, REPO

HOSTS = 2
EXAMPLES = REPO / "examples" / "awx"
# the plays of lastmile.deploy.deploy after the target check; the batch play starts once per batch
PLAY_NAMES = [play["name"] for play in yaml.safe_load((REPO / "playbooks" / "deploy.yml").read_text()) if "tasks" in play]
# the plays a rolling deployment runs tasks in; the plays of the other strategies' moves start with no hosts
BATCH_PLAY_NAME = "Roll out batch by batch"
TAKE_OUT_PLAY_NAME = "Take the first batch out of the load balancer"
ROLLING_PLAY_NAMES = [PLAY_NAMES[0], TAKE_OUT_PLAY_NAME, BATCH_PLAY_NAME, PLAY_NAMES[-1]]
CHECK_PLAY_NAME = next(play["name"] for play in yaml.safe_load((REPO / "playbooks" / "check_target.yml").read_text()))
RUN_TIMEOUT = 300
# AWX survey types and the Python type their answers arrive as in the job's extra vars.
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "integer": int, "float": float}


class Unsafe(str):
    """A survey answer: AWX writes it as ``!unsafe`` so that Jinja in it is never templated."""


class AwxDumper(yaml.SafeDumper):
    """Dumps extra vars the way AWX's safe_dump does: untrusted strings tagged ``!unsafe``."""


AwxDumper.add_representer(Unsafe, lambda dumper, data: dumper.represent_scalar("!unsafe", str(data)))


def job_template(strategy: str) -> Dict[str, Any]:
    return yaml.safe_load((EXAMPLES / "job_templates" / ("%s.yml" % strategy)).read_text())


def survey_answers(strategy: str, answers: Dict[str, Any]) -> Dict[str, Any]:
    """What AWX puts into the job's extra vars for ``answers``: every question of the example survey,
    answered or left at its default, typed as AWX types it; a required question must be answered."""
    survey = json.loads((EXAMPLES / "surveys" / ("%s.json" % strategy)).read_text())
    questions = {q["variable"]: q for q in survey["spec"]}
    unknown = set(answers) - set(questions)
    assert not unknown, "not asked by surveys/%s.json: %s" % (strategy, sorted(unknown))
    extra_vars = {}
    for variable, question in questions.items():
        value = answers.get(variable, question.get("default"))
        assert value not in (None, "") or not question["required"], "required question %s left empty" % variable
        value = SURVEY_TYPES[question["type"]](value)
        extra_vars[variable] = Unsafe(value) if isinstance(value, str) else value
    return extra_vars


def run_job(fleet: Fleet, tmp_path: Path, strategy: str, answers: Dict[str, Any], ident: str):
    """Launch the example job template of ``strategy`` with ``answers`` as AWX would, and wait for it."""
    private_data_dir = tmp_path / ident
    (private_data_dir / "project").mkdir(parents=True)  # the job's project checkout: unused, the playbook is the collection's
    (private_data_dir / "env").mkdir()
    template = job_template(strategy)
    extra_vars = {**template["extra_vars"], **survey_answers(strategy, answers)}
    (private_data_dir / "env" / "extravars").write_text(yaml.dump(extra_vars, Dumper=AwxDumper))
    return ansible_runner.run(
        private_data_dir=str(private_data_dir),
        ident=ident,
        playbook="lastmile.deploy.deploy",
        inventory=str(fleet.inventory_path),
        # this machine's pace, not part of the job template: the gates stay on, with shorter samples
        extravars={k: v for k, v in FAST_GATES.items() if k not in extra_vars},
        envvars={
            # where the execution environment has the collection (/usr/share/ansible/collections there)
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        },
        quiet=True,
        timeout=RUN_TIMEOUT,
    )


def events(run, name: str) -> List[dict]:
    return [e for e in run.events if e["event"] == name]


def release_answers(artifact, **answers: Any) -> Dict[str, Any]:
    return {"deploy_version": artifact.version, "deploy_artifact": str(artifact.path),
            "deploy_checksum": artifact.checksum, **answers}


def job_output(run) -> str:
    return Path(run.config.artifact_dir, "stdout").read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def fleet():
    """Two hosts behind HAProxy, both serving v1 (installed by hand: the runs below are the subject)."""
    with Fleet(hosts=HOSTS, base_address=free_base_address(HOSTS)) as running:
        running.install_release(running.build_release("v1"))
        running.wait_lb("UP")
        yield running


def test_rolling_job_with_survey_answers_as_awx_passes_them(fleet, tmp_path):
    v2 = fleet.build_release("v2")
    # Survey answers arrive as strings (the batch as "50%"), the job template's deploy_strategy as is.
    run = run_job(fleet, tmp_path, "rolling", release_answers(v2, deploy_batch="50%", deploy_health_timeout=15),
                  ident="rolling-v2")
    assert (run.status, run.rc) == ("successful", 0), job_output(run)

    artifacts = Path(run.config.artifact_dir)
    for name in ("stdout", "rc", "status", "command"):
        assert (artifacts / name).is_file(), "%s missing from %s" % (name, artifacts)
    assert (artifacts / "rc").read_text().strip() == "0"
    assert (artifacts / "status").read_text().strip() == "successful"
    assert "@%s" % (Path(run.config.private_data_dir) / "env" / "extravars") in (artifacts / "command").read_text()
    event_files = sorted((artifacts / "job_events").glob("*.json"))
    assert len(event_files) == len(list(run.events)) > 0

    plays = [p["event_data"]["play"] for p in events(run, "playbook_on_play_start")]
    assert [name for index, name in enumerate(plays) if index == 0 or plays[index - 1] != name] == [CHECK_PLAY_NAME] + PLAY_NAMES
    assert plays.count(BATCH_PLAY_NAME) == 2, "deploy_batch 50 %: two passes of the batch play"
    tasks = events(run, "playbook_on_task_start")
    assert tasks and {t["event_data"]["play"] for t in tasks} == {CHECK_PLAY_NAME} | set(ROLLING_PLAY_NAMES)
    assert not events(run, "runner_on_failed") and not events(run, "runner_on_unreachable")

    stats, = events(run, "playbook_on_stats")
    counts = stats["event_data"]
    app_hosts = {h.name for h in fleet.hosts}
    # the target check runs once, on the first host of the inventory
    assert app_hosts <= set(counts["processed"]) <= app_hosts | {"lb1", "localhost"}, counts
    assert counts["failures"] == {} and counts["dark"] == {}, counts
    assert all(counts["changed"].get(h, 0) > 0 for h in app_hosts), counts["changed"]
    changed_in_events = {e["event_data"]["host"] for e in events(run, "runner_on_ok") if e["event_data"]["res"].get("changed")}
    assert changed_in_events == {h for h, n in counts["changed"].items() if n > 0}

    # "50%" of two hosts: one host per batch, in inventory order, each switched in its own pass of the batch play
    switches = []
    for event in sorted(run.events, key=lambda e: e["counter"]):
        data = event.get("event_data", {})
        if event["event"] == "playbook_on_play_start" and data.get("play") == BATCH_PLAY_NAME:
            switches.append([])
        elif (event["event"] == "runner_on_ok" and data["task"].startswith("Switch current and restart the service")
              and data["res"].get("changed")):
            switches[-1].append(data["host"])
    assert switches == [[h.name] for h in fleet.hosts], switches

    assert fleet.versions() == {h.name: "v2" for h in fleet.hosts}
    lb = fleet.haproxy.server_states()
    assert {(s["admin"], s["weight"]) for s in lb.values()} == {("ready", 100)}, lb


def test_failing_job_reports_the_host_and_cause_and_restores_the_fleet(fleet, tmp_path):
    before = fleet.versions()
    served = set(before.values())
    assert len(served) == 1 and None not in served, before
    lb_before = {n: (s["admin"], s["weight"]) for n, s in fleet.haproxy.server_states().items()}
    bad = fleet.build_release("v3bad", mode="nostart")
    run = run_job(fleet, tmp_path, "rolling", release_answers(bad, deploy_health_timeout=5), ident="rolling-v3bad")
    assert run.status == "failed" and run.rc not in (0, None), (run.status, run.rc)
    assert Path(run.config.artifact_dir, "status").read_text().strip() == "failed"

    failures = [e for e in events(run, "runner_on_failed") if e["event_data"].get("ignore_errors") is not True]
    first = fleet.hosts[0].name
    # the first failure is on the first host of the first batch; the run then restores and fails once more,
    # with a message naming that host and that failure
    cause = next(e["event_data"] for e in failures if e["event_data"]["host"] == first)
    final = failures[-1]["event_data"]
    message = final["res"].get("msg", "")
    assert final["task"] != cause["task"], final["task"]
    assert "rolled back" in message, message
    assert "%s: %s" % (first, cause["task"]) in message, (cause["task"], message)
    assert "%s -> %s" % (first, before[first]) in message, message  # and what it restored

    stats, = events(run, "playbook_on_stats")
    assert stats["event_data"]["failures"], stats["event_data"]
    assert fleet.versions() == before
    for host in fleet.hosts:
        assert host.current_target() == "releases/%s" % before[host.name], host.name
    assert {n: (s["admin"], s["weight"]) for n, s in fleet.haproxy.server_states().items()} == lb_before
