# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets on a real fleet: credentials are used but never shown (-vvv, ANSIBLE_LOG_PATH), TLS is verified.

An HTTPS artifact server signed by a private CA wants a bearer token or HTTP basic credentials; a
gateway in front of each host's /health wants another token and also receives webhooks. Every
run goes through ansible-playbook with -vvv and a log file, and all three outputs are searched.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List

import pytest

from conftest import REPO, host_state
from fleet.playbook import FAST_GATES, ansible_env

from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.secure_servers import AuthServer, private_ca, refused_url

FLEET_HOSTS = 2
USER = "deployer"
NO_LOG_MARK = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    log: str

    def everything(self) -> str:
        return "\n".join((self.stdout, self.stderr, self.log))

    def tail(self) -> str:
        return (self.stdout[-4000:] + "\n--- stderr ---\n" + self.stderr[-2000:])


@pytest.fixture(scope="module")
def lab(fleet, tmp_path_factory):
    """Servers and secrets for this module's runs; fresh random secrets so no stale text can match."""
    pytest.importorskip("cryptography")
    work = tmp_path_factory.mktemp("secrets")
    found = SimpleNamespace(
        work=work,
        artifact_token="art-tok-" + secrets.token_hex(8),
        password="basic-pw-" + secrets.token_hex(8),
        health_token="health-tok-" + secrets.token_hex(8),
        hook_secret="hook-path-" + secrets.token_hex(8),
        hook_key="hook-key-" + secrets.token_hex(8),
        tls=private_ca(str(work)),
    )
    found.basic_b64 = base64.b64encode(("%s:%s" % (USER, found.password)).encode()).decode()
    found.release = fleet.build_release("v2s")
    upstreams = {host.name: host.url + "health" for host in fleet.hosts}
    with AuthServer(files_dir=os.path.dirname(found.release.path), token=found.artifact_token,
                    basic=(USER, found.password), tls=found.tls) as artifacts, \
            AuthServer(token=found.health_token, health_upstreams=upstreams) as gateway:
        found.artifacts, found.gateway = artifacts, gateway
        found.artifact_url = artifacts.url("/files/" + os.path.basename(found.release.path))
        found.hook_url = gateway.url("/hook/%s?key=%s" % (found.hook_secret, found.hook_key))
        yield found


def secret_texts(lab) -> Dict[str, str]:
    return {
        "artifact token": lab.artifact_token,
        "basic password": lab.password,
        "basic credentials (base64)": lab.basic_b64,
        "health token": lab.health_token,
        "webhook URL": lab.hook_url,
        "webhook path secret": lab.hook_secret,
        "webhook query secret": lab.hook_key,
    }


def assert_nothing_leaked(run: Run, lab) -> None:
    assert "TASK [" in run.log, "the log file is empty, so it proves nothing"
    for where, text in (("stdout", run.stdout), ("stderr", run.stderr), ("log file", run.log)):
        leaked = [name for name, secret in secret_texts(lab).items() if secret in text]
        assert not leaked, "%s shows %s" % (where, ", ".join(leaked))


def run_ansible_playbook(fleet, lab, playbook: str, variables: dict, name: str, timeout: float = 600) -> Run:
    """ansible-playbook -vvv with the variables in a 0600 vars file (not on the command line, which
    the test logs keep), ANSIBLE_LOG_PATH set, stdout and stderr kept apart."""
    vars_file = lab.work / ("%s-vars.json" % name)
    vars_file.write_text(json.dumps(variables))
    vars_file.chmod(0o600)
    log_path = lab.work / ("%s-ansible.log" % name)
    env = ansible_env()
    env["ANSIBLE_LOG_PATH"] = str(log_path)
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(fleet.inventory_path),
               playbook, "-e", "@%s" % vars_file, "-vvv"]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    return Run(proc.returncode, stdout, stderr, log)


def deploy_vars(lab, **extra) -> dict:
    return {
        **FAST_GATES,
        "deploy_batch": "100%",
        "deploy_version": lab.release.version,
        "deploy_artifact": lab.artifact_url,
        "deploy_checksum": lab.release.checksum,
        "deploy_artifact_headers": {"Authorization": "Bearer " + lab.artifact_token},
        "deploy_health_url": lab.gateway.url("/health/{{ inventory_hostname }}"),
        "deploy_health_headers": {"Authorization": "Bearer " + lab.health_token},
        **extra,
    }


def authorizations(server: AuthServer, prefix: str) -> List[str]:
    return [seen.headers.get("Authorization", "") for seen in server.requests_to(prefix)]


def test_private_ca_refused_by_default_then_trusted_with_deploy_ca_path(fleet, lab):
    cache = lab.work / "cache-deploy"
    before = host_state(fleet)
    refused = run_ansible_playbook(fleet, lab, "lastmile.deploy.deploy",
                                   deploy_vars(lab, deploy_artifact_cache=str(cache)), "refused")
    assert refused.rc != 0, refused.tail()
    assert "cannot download %s: TLS error: certificate verification failed" % lab.artifact_url in refused.stdout, refused.tail()
    assert "deploy_ca_path" in refused.stdout
    assert host_state(fleet) == before, "a refused download changed hosts or the LB"
    assert not (cache / os.path.basename(lab.release.path)).exists()
    assert lab.artifacts.requests_to("/files/") == [], "a request went out over an unverified connection"
    assert_nothing_leaked(refused, lab)
    assert NO_LOG_MARK in refused.stdout, "the failed task's arguments were not shown, so the leak check proves little"

    # The same deployment trusting the private CA; the playbook reports the outcome to the webhook.
    run = run_ansible_playbook(fleet, lab, "lastmile.deploy.deploy", deploy_vars(
        lab, deploy_artifact_cache=str(cache), deploy_ca_path=lab.tls.ca, deploy_strategy="rolling",
        deploy_notify_url=lab.hook_url, deploy_notify_headers={"X-Hook-Auth": lab.hook_key},
    ), "deployed")
    assert run.rc == 0, run.tail()
    assert set(fleet.versions().values()) == {lab.release.version}
    assert authorizations(lab.artifacts, "/files/") == ["Bearer " + lab.artifact_token]
    health = authorizations(lab.gateway, "/health/")
    assert health and set(health) == {"Bearer " + lab.health_token}, health
    assert {seen.path.split("/")[2] for seen in lab.gateway.requests_to("/health/")} == {h.name for h in fleet.hosts}
    (hook,) = lab.gateway.requests_to("/hook/", "POST")
    assert hook.path == "/hook/%s?key=%s" % (lab.hook_secret, lab.hook_key)
    assert hook.headers["X-Hook-Auth"] == lab.hook_key
    body = json.loads(hook.body)
    assert {k: body[k] for k in ("app", "version", "strategy", "outcome", "message")} == {
        "app": "sample", "version": lab.release.version, "strategy": "rolling", "outcome": "succeeded",
        "message": ""}
    assert sorted(body["hosts"]) == sorted(h.name for h in fleet.hosts)
    assert_nothing_leaked(run, lab)
    assert NO_LOG_MARK in run.stdout


def test_a_rolled_back_deployment_is_reported_with_its_cause(fleet, lab):
    bad = fleet.build_release("v9bad", mode="nostart")
    run = run_ansible_playbook(fleet, lab, "lastmile.deploy.deploy", {
        **FAST_GATES, "deploy_version": bad.version, "deploy_artifact": str(bad.path), "deploy_checksum": bad.checksum,
        "deploy_health_timeout": 5, "deploy_notify_url": lab.hook_url}, "rolled-back")
    assert run.rc != 0 and "was rolled back" in run.stdout, run.tail()
    hook = lab.gateway.requests_to("/hook/", "POST")[-1]
    body = json.loads(hook.body)
    assert (body["version"], body["strategy"], body["outcome"]) == ("v9bad", "rolling", "rolled_back"), body
    assert body["message"].startswith("%s: Switch current and restart the service on release v9bad" % fleet.hosts[0].name), body
    assert_nothing_leaked(run, lab)


def test_basic_auth_precheck_uses_the_password_and_shows_it_nowhere(fleet, lab):
    before = host_state(fleet)
    seen_before = len(lab.artifacts.requests_to("/files/"))
    cache = lab.work / "cache-precheck"
    run = run_ansible_playbook(fleet, lab, "lastmile.deploy.precheck", {
        **FAST_GATES,
        "deploy_version": lab.release.version,
        "deploy_artifact": lab.artifact_url,
        "deploy_checksum": lab.release.checksum,
        "deploy_artifact_cache": str(cache),
        "deploy_artifact_username": USER,
        "deploy_artifact_password": lab.password,
        "deploy_ca_path": lab.tls.ca,
    }, "precheck-basic")
    assert run.rc == 0, run.tail()
    assert authorizations(lab.artifacts, "/files/")[seen_before:] == ["Basic " + lab.basic_b64]
    assert (cache / os.path.basename(lab.release.path)).read_bytes() == Path(lab.release.path).read_bytes()
    assert host_state(fleet) == before
    assert_nothing_leaked(run, lab)
    assert NO_LOG_MARK in run.stdout


def test_failing_webhook_only_warns_without_the_url(fleet, lab):
    with refused_url("/hook/%s?key=%s" % (lab.hook_secret, lab.hook_key)) as url:
        run_failing_webhooks(fleet, lab, url)


def run_failing_webhooks(fleet, lab, refused_url):
    playbook = lab.work / "notify_failing.yml"
    playbook.write_text(
        "---\n"
        "- name: Report to webhooks that fail\n"
        "  hosts: app\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: Report to a webhook that answers 500\n"
        "      ansible.builtin.include_role:\n"
        "        name: lastmile.deploy.notify\n"
        "      vars:\n"
        "        deploy_notify_url: '{{ hook_answers_500 }}'\n"
        "        deploy_notify_outcome: rolled_back\n"
        "        deploy_notify_message: health gate failed\n"
        "\n"
        "    - name: Report to a webhook nobody listens on\n"
        "      ansible.builtin.include_role:\n"
        "        name: lastmile.deploy.notify\n"
        "      vars:\n"
        "        deploy_notify_url: '{{ hook_refused }}'\n"
        "        deploy_notify_outcome: failed\n"
    )
    before = len(lab.gateway.requests_to("/hook/", "POST"))
    lab.gateway.webhook_status = 500
    try:
        run = run_ansible_playbook(fleet, lab, str(playbook), {
            "deploy_version": "v9", "hook_answers_500": lab.hook_url, "hook_refused": refused_url,
        }, "webhook-failing")
    finally:
        lab.gateway.webhook_status = 200
    assert run.rc == 0, run.tail()
    assert len(lab.gateway.requests_to("/hook/", "POST")) == before + 1, "the 500 webhook was never called"
    text = " ".join((run.stdout + run.stderr).split())
    assert "[WARNING]: the rolled_back notification for sample v9 was not delivered: the webhook answered status 500" in text, \
        run.tail()
    assert "[WARNING]: the failed notification for sample v9 was not delivered: connection refused" in text, run.tail()
    assert refused_url not in run.everything()
    assert_nothing_leaked(run, lab)
