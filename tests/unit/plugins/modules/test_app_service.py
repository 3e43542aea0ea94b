# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lastmile.deploy.app_service against a real supervisord that asks for a password: the password
works, and is in no result (nor its invocation) and on no process's command line."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import pytest

from ansible_collections.lastmile.deploy.plugins.modules import app_service
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures import supervisord_lab
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import REPO, ansible_cli, run_in_process

pytestmark = pytest.mark.skipif(not supervisord_lab.available(), reason="supervisord is not installed beside this Python")

USER = supervisord_lab.USERNAME
PROGRAM = supervisord_lab.PROGRAM


@pytest.fixture(scope="module")
def lab():
    with supervisord_lab.SupervisordLab() as running:
        yield running


class CommandLines:
    """Every process's command line (/proc/*/cmdline), read over and over while a module runs."""

    def __init__(self, secret: str):
        self.secret = secret.encode()
        self.showing, self.supervisorctl, self.passes = [], [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _watch(self):
        while not self._stop.is_set():
            for pid in (name for name in os.listdir("/proc") if name.isdigit()):
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as handle:
                        raw = handle.read()
                except OSError:
                    continue
                if self.secret in raw:
                    self.showing.append(raw.replace(b"\0", b" ").decode(errors="replace"))
                if b"/supervisorctl\0" in raw:
                    self.supervisorctl.append(raw.split(b"\0"))
            self.passes += 1
            self._stop.wait(0.005)


def assert_hidden(result: dict, password: str) -> None:
    assert password not in json.dumps(result), result
    assert result["invocation"]["module_args"], result  # shown, so that its absence means something


def restart_args(supervisorctl: str, **extra) -> dict:
    return dict(dict(name=PROGRAM, manager="supervisor", state="restarted", timeout=20, supervisorctl=supervisorctl),
                **extra)


def ansible_vvv(args: dict, secrets: dict, tmp_path):
    """``ansible localhost -m lastmile.deploy.app_service -vvv``; ``secrets`` reach the arguments as variables
    from a 0600 file (not the command line). Returns (exit code, result, everything printed)."""
    variables = tmp_path / "secrets.json"
    variables.write_text(json.dumps(secrets))
    variables.chmod(0o600)
    ansible, env = ansible_cli()
    command = ansible + ["localhost", "-i", "localhost,", "-c", "local", "-m", "lastmile.deploy.app_service",
                         "-a", json.dumps(args), "-e", "@%s" % variables, "-vvv"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    start = done.stdout.index("{", done.stdout.index("localhost | "))
    return done.returncode, json.JSONDecoder().raw_decode(done.stdout[start:])[0], done.stdout + done.stderr


@pytest.mark.parametrize("spelling", ["-p {}", "-p{}", "--password={}", "--pass {}"])
def test_a_password_in_supervisorctl_works_over_xml_rpc_and_is_shown_nowhere(lab, spelling, tmp_path):
    pid = lab.info()["pid"]
    supervisorctl = "%s -c %s -u %s %s" % (lab.supervisorctl, lab.conf, USER, spelling.format("{{ sv_password }}"))
    rc, result, printed = ansible_vvv(restart_args(supervisorctl), {"sv_password": lab.password}, tmp_path)
    assert rc == 0 and (result["changed"], result["status"]) == (True, "RUNNING"), printed[-3000:]
    assert lab.info()["pid"] != pid
    assert_hidden(result, lab.password)
    assert lab.password not in printed
    assert result["invocation"]["module_args"]["supervisorctl"].endswith("********")


def test_a_password_in_supervisorctl_is_on_no_command_line_when_supervisorctl_runs(lab, capsys):
    pid = lab.info()["pid"]
    # no -c: the module cannot tell the server, so supervisorctl runs (and finds its configuration itself)
    supervisorctl = "%s -u %s -p %s" % (lab.supervisorctl, USER, lab.password)
    with CommandLines(lab.password) as seen:
        rc, result = run_in_process(app_service.main, restart_args(supervisorctl), capsys)
    assert rc == 0 and (result["changed"], result["status"]) == (True, "RUNNING"), result
    assert lab.info()["pid"] != pid
    assert seen.passes > 5 and seen.showing == []
    assert seen.supervisorctl, "supervisorctl was not seen running"
    for argv in seen.supervisorctl:
        private = argv[argv.index(b"-c") + 1].decode()
        assert not os.path.exists(private), "%s was left behind" % private
    assert_hidden(result, lab.password)


def test_supervisor_password_is_shown_nowhere(lab, tmp_path):
    pid = lab.info()["pid"]
    args = restart_args("%s -c %s -u %s" % (lab.supervisorctl, lab.conf, USER), supervisor_password="{{ sv_password }}")
    rc, result, printed = ansible_vvv(args, {"sv_password": lab.password}, tmp_path)
    assert rc == 0 and result["status"] == "RUNNING" and lab.info()["pid"] != pid, printed[-3000:]
    assert_hidden(result, lab.password)
    assert lab.password not in printed
    assert result["invocation"]["module_args"]["supervisor_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_a_wrong_password_fails_without_showing_it(lab, capsys):
    wrong = "not-" + lab.password
    supervisorctl = "%s -c %s -u %s -p %s" % (lab.supervisorctl, lab.conf, USER, wrong)
    rc, result = run_in_process(app_service.main, restart_args(supervisorctl, timeout=5), capsys)
    assert rc != 0 and "did not start it" in result["msg"], result
    assert_hidden(result, wrong)


def test_a_command_line_supervisorctl_would_refuse_fails_before_anything_and_is_not_shown(lab, capsys):
    pid = lab.info()["pid"]
    supervisorctl = "%s -c %s -u %s status -p %s" % (lab.supervisorctl, lab.conf, USER, lab.password)
    rc, result = run_in_process(app_service.main, restart_args(supervisorctl), capsys)
    assert rc != 0 and "holds 3 argument(s) after its options" in result["msg"], result
    assert_hidden(result, lab.password)
    assert result["invocation"]["module_args"]["supervisorctl"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert lab.info()["pid"] == pid


def test_a_password_given_twice_is_refused(lab, capsys):
    supervisorctl = "%s -c %s -u %s -p %s" % (lab.supervisorctl, lab.conf, USER, lab.password)
    rc, result = run_in_process(app_service.main, restart_args(supervisorctl, supervisor_password=lab.password), capsys)
    assert rc != 0 and "given both on the supervisorctl command line (-p) and apart from it" in result["msg"], result
    assert_hidden(result, lab.password)
