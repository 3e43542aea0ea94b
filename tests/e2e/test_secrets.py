# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets on a real fleet: credentials are used but never shown (-vvv, ANSIBLE_LOG_PATH), TLS is verified.

An HTTPS artifact server signed by a private CA wants a bearer token or HTTP basic credentials; a
gateway in front of each host's /health wants another token and also receives webhooks. Every
run goes through ansible-playbook with -vvv and a log file, and all three outputs are searched.

A second fleet's supervisords want a username and password: deployments that carry the password in
deploy_supervisorctl (-p) or in deploy_supervisor_password never show it in the output, the log, the
job events of an ansible-runner (AWX) run, nor in any process's command line while they run.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List

import pytest

from conftest import COLLECTIONS, REPO, host_state
from fleet import Fleet
from fleet.addresses import free_base_address
from fleet.playbook import FAST_GATES, ansible_env, release_vars

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
    # the artifact check runs in the task's own process on the controller: no module invocation is echoed, only
    # its result, which the leak check above searched
    assert "FAILED! => {" in refused.stdout, "the failed task's result was not shown, so the leak check proves little"

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
    assert body["message"].startswith("%s: Switch current and restart the service, then verify its health (release v9bad)" % fleet.hosts[0].name), body
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
    # verified in the task's own process: its whole result is shown (-vvv), no module invocation
    assert '"verified": true' in run.stdout, "the artifact check's result was not shown, so the leak check proves little"


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


# --- a supervisord that wants a password ---------------------------------------------------------

SUPERVISOR_USER = "deployer"


class CommandLineWatch:
    """Reads every process's command line (/proc/*/cmdline) over and over while a run goes on:
    the ones that hold ``secret``, and those of supervisorctl with the mode of the file after -c."""

    def __init__(self, secret: str):
        self.secret = secret.encode()
        self.leaks: Dict[int, str] = {}
        self.supervisorctl: Dict[str, List[str]] = {}  # command line -> modes seen of its -c file
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "CommandLineWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for pid in [name for name in os.listdir("/proc") if name.isdigit()]:
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as handle:
                        raw = handle.read()
                except OSError:
                    continue  # gone meanwhile
                argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
                if self.secret in raw:
                    self.leaks[int(pid)] = " ".join(argv)
                if any(part.endswith("/supervisorctl") for part in argv[:2]):
                    modes = self.supervisorctl.setdefault(" ".join(argv), [])
                    if "-c" in argv[:-1]:
                        try:
                            modes.append(oct(stat.S_IMODE(os.stat(argv[argv.index("-c") + 1]).st_mode)))
                        except OSError:
                            pass  # already removed
            self.passes += 1
            self._stop.wait(0.01)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """Two hosts whose supervisord wants a username and password, serving v1; each host also has
    supervisorctl installed beside its configuration (<sv>/bin/supervisorctl next to
    <sv>/supervisord.conf), where supervisorctl run without -c finds it by itself."""
    password = "sv-pw-" + secrets.token_hex(8)
    running = Fleet(hosts=FLEET_HOSTS, base_address=free_base_address(FLEET_HOSTS))
    for host in running.hosts:
        host.require_credentials(SUPERVISOR_USER, password)
    with running:
        for host in running.hosts:
            os.makedirs(os.path.join(host.svdir, "bin"))
            os.symlink(os.path.join(sys.prefix, "bin", "supervisorctl"), os.path.join(host.svdir, "bin", "supervisorctl"))
        running.install_release(running.build_release("v1"))
        running.wait_lb("UP")
        yield SimpleNamespace(fleet=running, password=password, work=tmp_path_factory.mktemp("supervisor-secrets"))


def guarded_deploy_vars(guarded, version: str, **extra) -> dict:
    release = guarded.fleet.build_release(version)
    return {**FAST_GATES, **release_vars(release), "deploy_batch": "100%", **extra}


def assert_supervisor_password_nowhere(guarded, watch: CommandLineWatch, texts: Dict[str, str]) -> None:
    assert watch.passes > 10, "process listings were hardly read, so they prove little"
    leaked = [where for where, text in texts.items() if guarded.password in text]
    leaked += ["the command line of %s" % command for command in watch.leaks.values()]
    assert not leaked, "the supervisor password is shown in: %s" % "; ".join(leaked)


def test_supervisor_password_in_supervisorctl_with_the_supervisorctl_fallback_is_shown_nowhere(guarded):
    """-p in deploy_supervisorctl without -c: supervisorctl must run, and gets the password from a private file."""
    variables = guarded_deploy_vars(
        guarded, "v2",
        deploy_supervisorctl="{{ deploy_root | dirname }}/sv/bin/supervisorctl -u %s -p %s" % (SUPERVISOR_USER, guarded.password))
    with CommandLineWatch(guarded.password) as watch:
        run = run_ansible_playbook(guarded.fleet, guarded, "lastmile.deploy.deploy", variables, "supervisor-fallback")
    assert run.rc == 0, run.tail()
    assert guarded.fleet.versions() == {host.name: "v2" for host in guarded.fleet.hosts}
    assert "TASK [" in run.log, "the log file is empty, so it proves nothing"
    assert_supervisor_password_nowhere(guarded, watch, {"stdout": run.stdout, "stderr": run.stderr, "log file": run.log})
    # the fallback did run supervisorctl (the interpreter, then the supervisorctl deploy_supervisorctl names),
    # each time with a private configuration file that is gone now; other processes are other tests'
    ours = {command: modes for command, modes in watch.supervisorctl.items()
            if command.split()[1].startswith(guarded.fleet.workdir)}
    assert ours, "supervisorctl never ran: the fallback was not exercised"
    for command, modes in ours.items():
        argv = command.split()
        assert "-c" in argv and set(modes) <= {"0o600"}, (command, modes)
        assert not os.path.exists(argv[argv.index("-c") + 1]), "%s was left behind" % command
    assert any(ours.values()), "no private configuration was seen to check its mode"
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.stdout or "********" in run.stdout, \
        "the module's arguments were not shown, so the output proves little"


@pytest.mark.parametrize("where, version", [("variable", "v3"), ("supervisorctl", "v4")])
def test_supervisor_password_is_shown_nowhere_in_an_ansible_runner_job(guarded, where, version):
    """With -c, supervisord is asked over XML-RPC; the job runs as AWX runs it, its events are searched too.
    The password comes in deploy_supervisor_password, or as -p in deploy_supervisorctl."""
    import ansible_runner

    private_data_dir = guarded.work / ("runner-" + where)
    (private_data_dir / "env").mkdir(parents=True)
    log_path = guarded.work / ("runner-%s-ansible.log" % where)
    supervisorctl = "%s -c {{ deploy_root | dirname }}/sv/supervisord.conf -u %s" % (
        os.path.join(sys.prefix, "bin", "supervisorctl"), SUPERVISOR_USER)
    if where == "variable":
        variables = guarded_deploy_vars(guarded, version, deploy_supervisorctl=supervisorctl,
                                        deploy_supervisor_password=guarded.password)
    else:
        variables = guarded_deploy_vars(guarded, version, deploy_supervisorctl=supervisorctl + " -p " + guarded.password)
    # where AWX puts a job's extra vars and survey answers (a password question's answer too)
    extravars = private_data_dir / "env" / "extravars"
    extravars.write_text(json.dumps(variables))
    extravars.chmod(0o600)
    with CommandLineWatch(guarded.password) as watch:
        run = ansible_runner.run(
            private_data_dir=str(private_data_dir), ident="supervisor-" + where, playbook="lastmile.deploy.deploy",
            inventory=str(guarded.fleet.inventory_path), verbosity=3, quiet=True, timeout=600,
            envvars={"ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS), "ANSIBLE_LOG_PATH": str(log_path),
                     "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                     "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])})
    artifacts = Path(run.config.artifact_dir)
    stdout = (artifacts / "stdout").read_text(errors="replace")
    assert (run.status, run.rc) == ("successful", 0), stdout[-4000:]
    assert guarded.fleet.versions() == {host.name: version for host in guarded.fleet.hosts}
    events = list(run.events)
    service_events = [e["event_data"] for e in events if e["event"] == "runner_on_ok"
                      and e["event_data"].get("task_action") == "lastmile.deploy.app_service"]
    # the module's arguments are in the events, so that the password's absence means something
    masked = {"variable": ("supervisor_password", "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"),
              "supervisorctl": ("supervisorctl", "-p ********")}[where]
    assert service_events and all(masked[1] in event["res"]["invocation"]["module_args"][masked[0]]
                                  for event in service_events), service_events[:1]
    texts = {"job stdout (-vvv)": stdout, "log file": log_path.read_text(errors="replace"),
             "job events": json.dumps(events)}
    texts.update({"artifact %s" % path.relative_to(artifacts): path.read_text(errors="replace")
                  for path in artifacts.rglob("*") if path.is_file()})
    assert "TASK [" in texts["log file"], "the log file is empty, so it proves nothing"
    assert_supervisor_password_nowhere(guarded, watch, texts)
