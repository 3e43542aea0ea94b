# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX / Automation Controller examples (examples/awx) against the collection's own contract: the
variables the roles document in meta/argument_specs.yml, their types and choices, and the settings
that keep one deployment one job over the whole fleet."""
from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Set

import jinja2.sandbox
import pytest
import yaml

from fleet.playbook import COLLECTIONS, REPO

EXAMPLES = REPO / "examples" / "awx"
PROJECT = EXAMPLES / "project"
DEPLOY_PLAYBOOK = REPO / "playbooks" / "deploy.yml"
DEPLOY_PLAY = next(play for play in yaml.safe_load(DEPLOY_PLAYBOOK.read_text()) if "hosts" in play and "vars" in play)
STRATEGIES = [s for s in DEPLOY_PLAY["vars"]["lastmile_strategies"] if s != "auto"]
JOB_TEMPLATES = sorted(p.stem for p in (EXAMPLES / "job_templates").glob("*.yml"))
# survey file -> the strategy whose variables it asks
SURVEYS = {**{s: s for s in STRATEGIES}, "canary_approval": "canary"}
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
# argument spec type -> the survey types whose answers it accepts
COMPATIBLE_TYPES = {
    "str": {"text", "textarea", "password", "multiplechoice"},
    "path": {"text"},
    "raw": {"text", "multiplechoice", "integer"},
    "int": {"integer"},
    "float": {"float", "integer"},
    "bool": {"multiplechoice"},
    "list": {"multiselect"},
}
# Choices of the argument spec a survey must not offer, and why.
NOT_OFFERED_IN_AWX = {
    # an AWX job has no terminal: ansible.builtin.pause waits for input nobody can give until the job times out
    "deploy_canary_gate": {"pause"},
}
# Required unless another variable is true (the precheck's contract).
REQUIRED_UNLESS = {"deploy_checksum": "deploy_allow_unverified"}
AWX_PLAYBOOK_LINE = re.compile(r"^\s*-?\s*(?:hosts|include|import_playbook):")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@lru_cache(maxsize=None)
def argument_spec(role: str) -> Dict[str, dict]:
    return load_yaml(REPO / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def deploy_options(strategy: str) -> Dict[str, dict]:
    """The options a deployment with ``strategy`` validates: the strategy role's and the precheck's."""
    return {**argument_spec("precheck"), **argument_spec(strategy)}


def playbook_variables() -> Set[str]:
    """The deploy_* variables lastmile.deploy.deploy reads itself (deploy_strategy, deploy_hosts, ...)."""
    return set(re.findall(r"\b(deploy_[a-z_]+)\b", DEPLOY_PLAYBOOK.read_text()))


def documented(strategy: str) -> Set[str]:
    return set(deploy_options(strategy)) | playbook_variables()


def job_template(name: str) -> Dict[str, Any]:
    return load_yaml(EXAMPLES / "job_templates" / ("%s.yml" % name))


def survey(name: str) -> Dict[str, Any]:
    return json.loads((EXAMPLES / "surveys" / ("%s.json" % name)).read_text())


def inventory_vars() -> Dict[str, Any]:
    return load_yaml(EXAMPLES / "inventory.yml")["all"].get("vars", {})


def group_hosts(group: dict) -> Set[str]:
    hosts = set((group or {}).get("hosts") or {})
    for child in ((group or {}).get("children") or {}).values():
        hosts |= group_hosts(child)
    return hosts


def inventory_groups() -> Dict[str, Set[str]]:
    groups: Dict[str, Set[str]] = {}

    def walk(name: str, group: dict) -> None:
        groups[name] = group_hosts(group)
        for child_name, child in ((group or {}).get("children") or {}).items():
            walk(child_name, child)

    walk("all", load_yaml(EXAMPLES / "inventory.yml")["all"])
    return groups


def imported_playbook(playbook: str) -> str:
    plays = load_yaml(PROJECT / playbook)
    assert len(plays) == 1, playbook
    return plays[0].get("import_playbook") or plays[0].get("ansible.builtin.import_playbook", "")


def awx_finds_playbook(path: Path) -> bool:
    """Whether a project sync lists ``path`` as a playbook: AWX looks for a line starting with hosts:,
    include: or import_playbook: (not ansible.builtin.import_playbook:)."""
    return path.suffix in (".yml", ".yaml") and any(AWX_PLAYBOOK_LINE.match(line) for line in path.read_text().splitlines())


def test_there_is_a_job_template_and_a_survey_for_every_strategy():
    assert set(STRATEGIES) == {"rolling", "recreate", "blue_green", "canary"}, STRATEGIES
    assert set(STRATEGIES) <= set(JOB_TEMPLATES)
    assert all((EXAMPLES / "surveys" / ("%s.json" % s)).is_file() for s in STRATEGIES)


@pytest.mark.parametrize("name", JOB_TEMPLATES)
def test_job_template_keeps_one_run_over_the_whole_fleet(name):
    template = job_template(name)
    assert template["job_slice_count"] == 1, "slices would each see part of the fleet"
    assert template["allow_simultaneous"] is False, "two runs would snapshot and restore the same LB"
    assert template["ask_limit_on_launch"] is False, "a limit hides hosts from the plan"
    assert not template.get("limit"), template.get("limit")
    assert (PROJECT / template["playbook"]).is_file(), "AWX only offers playbooks of the project"
    assert awx_finds_playbook(PROJECT / template["playbook"]), "a project sync would not list %s" % template["playbook"]
    assert template["name"] and template["organization"] and template["project"] and template["inventory"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_job_template_deploys_with_its_strategy(strategy):
    template = job_template(strategy)
    assert imported_playbook(template["playbook"]) == "lastmile.deploy.deploy"
    assert template["extra_vars"]["deploy_strategy"] == strategy
    assert template["survey_enabled"] is True
    assert template["timeout"] == 0, "a job killed by its timeout stops mid-step and cannot roll back"
    assert template["credentials"], "the hosts are reached with a machine credential"
    undocumented = set(template["extra_vars"]) - documented(strategy)
    assert not undocumented, undocumented


def test_rollback_job_template_plays_the_rollback_playbook():
    template = job_template("rollback")
    assert imported_playbook(template["playbook"]) == "lastmile.deploy.rollback"
    assert set(template.get("extra_vars") or {}) <= set(argument_spec("rollback"))


@pytest.mark.parametrize("name", sorted(SURVEYS))
def test_survey_is_one_the_controller_accepts(name):
    spec = survey(name)
    assert isinstance(spec["name"], str) and spec["name"].strip()
    assert isinstance(spec["description"], str) and spec["description"].strip()
    assert isinstance(spec["spec"], list) and spec["spec"]
    variables = [q["variable"] for q in spec["spec"]]
    assert len(variables) == len(set(variables)), variables
    for q in spec["spec"]:
        where = "%s: %s" % (name, q.get("variable"))
        assert {"question_name", "variable", "type", "required", "default"} <= set(q), where
        assert q["question_name"].strip() and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", q["variable"]), where
        assert q["type"] in SURVEY_TYPES and isinstance(q["required"], bool), where
        low, high = q.get("min"), q.get("max")
        if q["type"] in ("multiplechoice", "multiselect"):
            assert isinstance(q["choices"], list) and q["choices"], where
            assert all(isinstance(c, str) for c in q["choices"]), where
            defaults = q["default"] if q["type"] == "multiselect" else [q["default"]]
            assert set(defaults) <= set(q["choices"]), where
        else:
            assert "choices" not in q, where
        if q["type"] == "integer":
            assert isinstance(q["default"], int) and not isinstance(q["default"], bool), where
        if q["type"] == "float":
            assert isinstance(q["default"], (int, float)) and not isinstance(q["default"], bool), where
        if q["type"] in ("integer", "float") and low is not None and high is not None:
            assert low <= q["default"] <= high, where
        if q["type"] in ("text", "textarea", "password"):
            assert isinstance(q["default"], str), where
            if q["default"] and high is not None:
                assert (low or 0) <= len(q["default"]) <= high, where


@pytest.mark.parametrize("name", sorted(SURVEYS))
def test_survey_asks_only_variables_the_strategy_documents(name):
    strategy = SURVEYS[name]
    asked = {q["variable"] for q in survey(name)["spec"]}
    assert not asked - documented(strategy), sorted(asked - documented(strategy))


@pytest.mark.parametrize("name", sorted(SURVEYS))
def test_survey_types_choices_and_defaults_follow_the_argument_spec(name):
    options = deploy_options(SURVEYS[name])
    for q in survey(name)["spec"]:
        option = options.get(q["variable"])
        if option is None:
            continue
        where = "%s: %s" % (name, q["variable"])
        assert q["type"] in COMPATIBLE_TYPES[option.get("type", "str")], (where, option.get("type"), q["type"])
        if "choices" in option:
            assert q["type"] == "multiplechoice", where
            expected = set(option["choices"]) - NOT_OFFERED_IN_AWX.get(q["variable"], set())
            assert set(q["choices"]) == expected, (where, q["choices"], sorted(expected))
        if "default" in option and q["default"] not in ("", None):
            # leaving a question at its default deploys as if it was not asked
            assert str(q["default"]) == str(option["default"]), (where, q["default"], option["default"])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_required_variables_are_set_in_the_inventory_or_the_template_or_asked(strategy):
    template = job_template(strategy)
    asked = {q["variable"] for q in survey(strategy)["spec"] if q["required"]}
    provided = set(inventory_vars()) | set(template["extra_vars"]) | asked
    options = deploy_options(strategy)
    required = {name for name, option in options.items() if option.get("required")}
    required |= {name for name, unless in REQUIRED_UNLESS.items()
                 if name in options and not template["extra_vars"].get(unless)}
    assert required, "the argument specs name no required variable"
    assert not required - provided, sorted(required - provided)


def test_inventory_has_the_groups_the_strategies_use():
    groups = inventory_groups()
    blue = argument_spec("blue_green")["deploy_blue_group"]["default"]
    green = argument_spec("blue_green")["deploy_green_group"]["default"]
    assert groups.get("app") and groups.get("lb"), sorted(groups)
    assert not groups["app"] & groups["lb"], "the load balancer is not an application host"
    assert groups.get(blue) and groups.get(green), sorted(groups)
    assert not groups[blue] & groups[green], "a host has one colour"
    assert groups[blue] | groups[green] == groups["app"], "every application host has a colour"


def test_canary_approval_workflow_gates_every_step_after_the_first():
    workflow = load_yaml(EXAMPLES / "workflows" / "canary_approval.yml")
    canary = job_template("canary")
    proceed = job_template("canary_proceed")
    nodes = {n["identifier"]: n for n in workflow["workflow_nodes"]}
    assert len(nodes) == len(workflow["workflow_nodes"])
    names = {job_template(n)["name"] for n in JOB_TEMPLATES}
    linked = set()
    for node in nodes.values():
        template = node["unified_job_template"]
        if template["type"] == "job_template":
            assert template["name"] in names, template["name"]
        else:
            assert template["type"] == "workflow_approval", template
        related = node["related"]
        assert {"success_nodes", "failure_nodes", "always_nodes", "credentials"} <= set(related)
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            for target in related[kind]:
                assert target["identifier"] in nodes, target
                linked.add(target["identifier"])
    roots = [nodes[i] for i in nodes if i not in linked]
    assert sorted(n["unified_job_template"]["type"] for n in roots) == ["job_template", "workflow_approval"]
    assert [n["unified_job_template"]["name"] for n in roots if n["unified_job_template"]["type"] == "job_template"] \
        == [canary["name"]], "the canary starts at once, beside the first approval"

    # one approval per gate: the canary waits before every step after the first
    steps = argument_spec("canary")["deploy_canary_steps"]["default"]
    approvals = [n for n in nodes.values() if n["unified_job_template"]["type"] == "workflow_approval"]
    assert len(approvals) == len(steps) - 1
    for approval in approvals:
        after = [nodes[t["identifier"]]["unified_job_template"]["name"] for t in approval["related"]["success_nodes"]]
        assert after == [proceed["name"]], after
        assert 0 < approval["unified_job_template"]["timeout"] <= canary["extra_vars"]["deploy_canary_gate_timeout"]

    assert workflow["extra_vars"]["deploy_canary_gate"] == "file"
    assert "file" in argument_spec("canary")["deploy_canary_gate"]["choices"]
    assert workflow["allow_simultaneous"] is False and workflow["ask_limit_on_launch"] is False
    # the proceed job creates the very file the canary waits for
    assert proceed["extra_vars"]["deploy_canary_gate_path"] == canary["extra_vars"]["deploy_canary_gate_path"]
    assert "deploy_canary_gate_path" in (PROJECT / proceed["playbook"]).read_text()
    # the workflow's survey stands in for the job template's: it asks what the deployment requires
    asked = {q["variable"] for q in survey("canary_approval")["spec"] if q["required"]}
    required = {name for name, option in deploy_options("canary").items() if option.get("required")}
    required |= {name for name, unless in REQUIRED_UNLESS.items() if not canary["extra_vars"].get(unless)}
    assert not required - asked - set(inventory_vars()) - set(canary["extra_vars"]), sorted(required - asked)


def test_project_playbooks_pass_a_syntax_check(tmp_path):
    playbooks = sorted(str(p) for p in PROJECT.glob("*.yml"))
    assert len(playbooks) >= 3, playbooks
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    check = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check",
                            "-i", str(EXAMPLES / "inventory.yml"), *playbooks],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


class _AuthHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the files of the current directory to requests with the login of ``expected``."""

    expected = ""

    def do_GET(self):
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="artifacts"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):
        pass


def test_artifact_store_credential_type_logs_the_download_in(tmp_path):
    credential_type = load_yaml(EXAMPLES / "credential_types" / "artifact_store.yml")
    fields = {f["id"] for f in credential_type["inputs"]["fields"]}
    assert set(credential_type["inputs"]["required"]) <= fields
    assert any(f.get("secret") for f in credential_type["inputs"]["fields"]), "the password is a secret input"

    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (tmp_path / "payload").write_text("release\n")
    with tarfile.open(artifacts / "shop-1.0.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "payload", arcname="payload")
    checksum = "sha256:" + hashlib.sha256((artifacts / "shop-1.0.tar.gz").read_bytes()).hexdigest()

    inputs = {"host": "127.0.0.1", "username": "deployer", "password": "s3cret-token"}
    handler = type("Handler", (_AuthHandler,), {
        "expected": "Basic " + base64.b64encode(b"deployer:s3cret-token").decode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(artifacts)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # what AWX does with the credential: render the injectors, write the files, set the environment
        sandbox = jinja2.sandbox.SandboxedEnvironment()
        files = {}
        for name, template in credential_type["injectors"]["file"].items():
            path = tmp_path / ("injected-" + name.split(".", 1)[1])
            path.write_text(sandbox.from_string(template).render(**inputs))
            path.chmod(0o600)
            files[name.split(".", 1)[1]] = str(path)
        injected = {k: sandbox.from_string(v).render(tower={"filename": files}, **inputs)
                    for k, v in credential_type["injectors"]["env"].items()}
        assert "s3cret-token" not in json.dumps(injected), "the secret goes into a file, not the environment"

        url = "http://127.0.0.1:%d/shop-1.0.tar.gz" % server.server_address[1]

        def download(extra_env: Dict[str, str]) -> subprocess.CompletedProcess:
            env = {k: v for k, v in os.environ.items() if k != "NETRC"}
            env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1", **extra_env)
            return subprocess.run(
                [str(Path(sys.executable).parent / "ansible"), "localhost", "-m", "lastmile.deploy.artifact_verify",
                 "-a", json.dumps({"url": url, "checksum": checksum, "dest": str(tmp_path / "cache")})],
                cwd=tmp_path, env=env, capture_output=True, text=True, check=False)

        without = download({})
        assert without.returncode != 0 and "401" in without.stdout, without.stdout + without.stderr
        with_credential = download(injected)
        assert with_credential.returncode == 0, with_credential.stdout + with_credential.stderr
        assert '"verified": true' in with_credential.stdout and checksum in with_credential.stdout, with_credential.stdout
    finally:
        server.shutdown()
        server.server_close()
