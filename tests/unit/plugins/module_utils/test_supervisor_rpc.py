# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""supervisord over XML-RPC: the endpoint read from a supervisorctl command line, the calls, the fallback;
a password on that command line kept off every command line run."""

from __future__ import annotations

import os
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.service.manager import Service, ServiceError
from ansible_collections.lastmile.deploy.plugins.module_utils.service.supervisor import (
    CommandLineError, Fault, SupervisorctlCommand, SupervisorRPC)
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures import supervisord_lab


def write_conf(tmp_path, text):
    path = tmp_path / "supervisord.conf"
    path.write_text(text)
    return str(path)


def endpoint_from_command(argv):
    return SupervisorctlCommand(argv).endpoint()


def rpc_from_command(argv, timeout):
    return SupervisorctlCommand(argv).rpc(timeout)


def test_endpoint_comes_from_the_configuration_named_on_the_command_line(tmp_path):
    conf = write_conf(tmp_path, "[unix_http_server]\nfile=/x\n[supervisorctl]\nserverurl=unix://%(here)s/sv.sock\n"
                                "username=ops\npassword=s3cret\n")
    assert endpoint_from_command(["supervisorctl", "-c", conf]) == {
        "serverurl": "unix://%s/sv.sock" % tmp_path, "username": "ops", "password": "s3cret"}
    # the command line wins over the file, as with supervisorctl
    assert endpoint_from_command(["supervisorctl", "--configuration=%s" % conf, "-u", "dev"])["username"] == "dev"


def test_endpoint_from_the_server_url_alone():
    assert endpoint_from_command(["/usr/bin/supervisorctl", "-s", "http://127.0.0.1:9001", "-u", "a", "-p", "b"]) == {
        "serverurl": "http://127.0.0.1:9001", "username": "a", "password": "b"}


def test_a_configuration_without_its_section_is_left_to_supervisorctl_which_refuses_it(tmp_path):
    conf = write_conf(tmp_path, "[supervisord]\nlogfile=/tmp/x.log\n")
    assert endpoint_from_command(["supervisorctl", "-c", conf]) is None


def test_an_empty_section_means_supervisorctls_default_server(tmp_path):
    conf = write_conf(tmp_path, "[supervisorctl]\n")
    assert endpoint_from_command(["supervisorctl", "-c", conf])["serverurl"] == "http://localhost:9001"


@pytest.mark.parametrize("argv", [
    ["supervisorctl"],                                  # supervisorctl would search its default paths
    ["supervisorctl", "-c", "/nonexistent/sv.conf"],    # unreadable
    ["supervisorctl", "-u", "ops", "-p", "s3cret"],     # no configuration nor server named
])
def test_endpoint_is_left_to_supervisorctl_when_it_cannot_be_told(argv):
    assert endpoint_from_command(argv) is None


def test_environment_expansions_are_left_to_supervisorctl(tmp_path):
    conf = write_conf(tmp_path, "[supervisorctl]\nserverurl=unix://%(ENV_HOME)s/sv.sock\n")
    assert endpoint_from_command(["supervisorctl", "-c", conf]) is None
    assert rpc_from_command(["supervisorctl", "-c", conf], timeout=5) is None


def test_an_unsupported_server_url_is_left_to_supervisorctl():
    assert rpc_from_command(["supervisorctl", "-s", "https://sv.example:9001"], timeout=5) is None


class UnixXMLRPCServer(socketserver.UnixStreamServer, SimpleXMLRPCDispatcher):
    """A stand-in supervisord: its XML-RPC methods on a UNIX socket."""

    def __init__(self, path, seen_headers):
        class Handler(SimpleXMLRPCRequestHandler):
            disable_nagle_algorithm = False  # a TCP option, not for a UNIX socket

            def address_string(self):
                return "unix"

            def do_POST(self):
                seen_headers.append(dict(self.headers))
                super().do_POST()

        SimpleXMLRPCDispatcher.__init__(self, allow_none=True)
        self.logRequests = False
        socketserver.UnixStreamServer.__init__(self, path, Handler)


@pytest.fixture
def supervisord():
    sockdir = tempfile.mkdtemp(prefix="lmsv")
    path = os.path.join(sockdir, "sv.sock")
    headers = []
    server = UnixXMLRPCServer(path, headers)
    states = {"shop": "STOPPED"}

    def start(name, wait=True):
        if name == "broken":
            raise xmlrpc.client.Fault(50, "SPAWN_ERROR: broken")
        states[name] = "RUNNING"
        return True

    server.register_function(lambda name: {"name": name, "statename": states[name]}, "supervisor.getProcessInfo")
    server.register_function(start, "supervisor.startProcess")
    server.register_function(lambda seconds: time.sleep(seconds) or True, "supervisor.sleepThenAnswer")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path, headers, states
    server.shutdown()
    server.server_close()
    os.unlink(path)
    os.rmdir(sockdir)


def test_calls_reach_supervisord_over_its_unix_socket_with_credentials(supervisord):
    path, headers, states = supervisord
    rpc = SupervisorRPC("unix://" + path, "ops", "s3cret", timeout=5)
    assert rpc.call("startProcess", "shop", True) is True
    assert rpc.call("getProcessInfo", "shop")["statename"] == "RUNNING" == states["shop"]
    assert headers[0]["Authorization"] == "Basic b3BzOnMzY3JldA=="  # ops:s3cret
    with pytest.raises(Fault) as refused:
        rpc.call("startProcess", "broken", True)
    assert refused.value.code == 50 and refused.value.words == "spawn error"


def test_a_call_left_unanswered_is_a_fault_not_a_reason_to_try_again(supervisord):
    path = supervisord[0]
    with pytest.raises(Fault) as unanswered:
        SupervisorRPC("unix://" + path, timeout=0.1).call("sleepThenAnswer", 0.5)
    assert unanswered.value.code == -1 and "no answer from supervisord" in str(unanswered.value)


def test_unreachable_supervisord_is_an_os_error():
    with pytest.raises(OSError):
        SupervisorRPC("unix:///nonexistent/lastmile-sv.sock", timeout=1).call("getProcessInfo", "shop")


class FakeRPC:
    """Answers supervisor.* calls from a script, recording each call."""

    def __init__(self, **answers):
        self.answers, self.calls = answers, []

    def call(self, method, *args):
        self.calls.append((method,) + args)
        answer = self.answers[method]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def never_run(argv):
    raise AssertionError("supervisorctl was run: %s" % argv)


def test_restart_asks_supervisord_and_runs_no_supervisorctl():
    rpc = FakeRPC(stopProcess=True, startProcess=True)
    service = Service("supervisor", "shop", never_run, rpc=rpc)
    assert service.ensure("restarted", timeout=5) == (True, "RUNNING")
    assert rpc.calls == [("stopProcess", "shop", True), ("startProcess", "shop", True)]


def test_first_restart_accepts_not_running_and_start_accepts_already_started():
    rpc = FakeRPC(stopProcess=Fault(70, "NOT_RUNNING: shop"), startProcess=True)
    assert Service("supervisor", "shop", never_run, rpc=rpc).ensure("restarted", timeout=5) == (True, "RUNNING")
    rpc = FakeRPC(getProcessInfo={"statename": "RUNNING"}, startProcess=Fault(60, "ALREADY_STARTED: shop"))
    assert Service("supervisor", "shop", never_run, rpc=rpc).ensure("started", timeout=5) == (False, "RUNNING")


def test_a_release_that_cannot_start_fails_with_supervisors_words_over_rpc():
    rpc = FakeRPC(stopProcess=True, startProcess=Fault(50, "SPAWN_ERROR: shop"))
    with pytest.raises(ServiceError, match=r"supervisor restart of shop did not start it: shop: ERROR \(spawn error\)"):
        Service("supervisor", "shop", never_run, rpc=rpc).ensure("restarted", timeout=5)


def test_unreachable_supervisord_falls_back_to_supervisorctl():
    calls = []

    def supervisorctl(argv):
        calls.append(argv)
        return 0, "shop: stopped\nshop: started\n", ""

    rpc = FakeRPC(stopProcess=ConnectionRefusedError(111, "refused"))
    service = Service("supervisor", "shop", supervisorctl, supervisorctl=["supervisorctl", "-c", "/etc/sv.conf"], rpc=rpc)
    assert service.ensure("restarted", timeout=5) == (True, "RUNNING")
    assert calls == [["supervisorctl", "-c", "/etc/sv.conf", "restart", "shop"]]
    assert len(rpc.calls) == 1, "supervisord was asked again after it could not be reached"


def test_a_restart_left_unanswered_fails_without_restarting_again_through_supervisorctl():
    rpc = FakeRPC(stopProcess=True, startProcess=Fault(-1, "no answer from supervisord at unix:///x within 60s"))
    with pytest.raises(ServiceError, match=r"did not start it: shop: ERROR \(no answer from supervisord"):
        Service("supervisor", "shop", never_run, rpc=rpc).ensure("restarted", timeout=30)


# --- the password on the command line ------------------------------------------------------------

@pytest.mark.parametrize("words", [
    ["-p", "pw"], ["-ppw"], ["--password", "pw"], ["--password=pw"], ["--pass=pw"], ["--p", "pw"], ["-ip", "pw"],
    ["-ippw"],
])
def test_every_spelling_supervisorctl_takes_for_the_password_is_taken_out(words):
    command = SupervisorctlCommand(["supervisorctl", "-s", "unix:///run/sv.sock", "-u", "ops"] + words)
    assert command.password == "pw"
    assert command.endpoint() == {"serverurl": "unix:///run/sv.sock", "username": "ops", "password": "pw"}
    assert all("pw" not in value for value in dict(command.options).values())


@pytest.mark.parametrize("argv, message", [
    (["supervisorctl", "-p", "a", "--password=b"], "--password is given more than once"),
    (["supervisorctl", "-x"], "supervisorctl would refuse its command line: option -x not recognized"),
    (["supervisorctl", "--pas"], "option --password requires argument"),
    (["supervisorctl", "-h"], "supervisorctl -h prints its help and does nothing else"),
    (["supervisorctl", "-c", "/etc/sv.conf", "status", "-p", "secret"], "holds 3 argument(s) after its options"),
    ([], "supervisorctl command line is empty"),
])
def test_a_command_line_supervisorctl_would_refuse_is_refused_naming_no_value(argv, message):
    with pytest.raises(CommandLineError) as refused:
        SupervisorctlCommand(argv)
    assert message in str(refused.value)
    assert not {"a", "b", "secret", "/etc/sv.conf"} & set(str(refused.value).replace(":", " ").split())


def test_a_password_given_apart_and_on_the_command_line_is_refused():
    with pytest.raises(CommandLineError, match=r"given both on the supervisorctl command line \(-p\) and apart"):
        SupervisorctlCommand(["supervisorctl", "-p", "x"], password="y")


def test_without_a_password_the_command_line_runs_as_given():
    command = SupervisorctlCommand(["supervisorctl", "-c", "/etc/sv.conf", "-u", "ops"])
    with command.command_line() as argv:
        assert argv == ["supervisorctl", "-c", "/etc/sv.conf", "-u", "ops"]


def test_the_password_goes_to_supervisorctl_in_a_private_file_with_the_server_it_would_have_used(tmp_path):
    conf = write_conf(tmp_path, "[supervisorctl]\nserverurl = unix://%(here)s/sv.sock ; the socket\nusername = ops\n"
                                "password = old\nhistory_file = ~/.h\n[ctlplugin:x]\nsupervisor.ctl_factory = x:y\n")
    private = tmp_path / "private"
    private.mkdir()
    command = SupervisorctlCommand(["supervisorctl", "-i", "--config=%s" % conf, "-r", "/tmp/h", "-p", "50%;#x"])
    with command.command_line(str(private)) as argv:
        assert argv[:-1] == ["supervisorctl", "-i", "-r", "/tmp/h", "-c"]
        path = argv[-1]
        assert os.path.dirname(path) == str(private)
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(path) as handle:
            text = handle.read()
    assert text.splitlines()[1:] == ["[supervisorctl]", "serverurl=unix://%s/sv.sock" % tmp_path, "username=ops",
                                     "password=50%%;#x"]
    assert list(private.iterdir()) == [], "the private configuration was left behind"


def test_a_password_its_file_cannot_hold_is_refused_without_showing_it(tmp_path):
    command = SupervisorctlCommand(["supervisorctl", "-s", "unix:///run/sv.sock", "-p", "pw ;tail"])
    with pytest.raises(CommandLineError) as refused:
        with command.command_line(str(tmp_path)):
            raise AssertionError("supervisorctl would read another password")
    assert "cannot be handed to supervisorctl in a configuration file" in str(refused.value)
    assert "tail" not in str(refused.value) and list(tmp_path.iterdir()) == []


def test_the_private_file_is_removed_when_supervisorctl_fails(tmp_path):
    command = SupervisorctlCommand(["supervisorctl", "-s", "unix:///run/sv.sock", "-p", "pw"])
    with pytest.raises(RuntimeError):
        with command.command_line(str(tmp_path)):
            raise RuntimeError("supervisorctl could not be started")
    assert list(tmp_path.iterdir()) == []


# --- a real supervisord that asks for a password ---------------------------------------------------

@pytest.fixture(scope="module")
def guarded_supervisord():
    if not supervisord_lab.available():
        pytest.skip("supervisord and supervisorctl are not installed beside %s" % sys.executable)
    with supervisord_lab.SupervisordLab() as lab:
        yield lab


class RecordingRunner:
    """Runs command lines for real; records each, with the mode and text of the file after -c while it runs."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv):
        private = None
        if "-c" in argv:
            path = argv[argv.index("-c") + 1]
            with open(path) as handle:
                private = (path, oct(os.stat(path).st_mode & 0o777), handle.read())
        self.calls.append((list(argv), private))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        return done.returncode, done.stdout, done.stderr


def test_supervisorctl_found_by_its_own_search_gets_the_password_from_a_private_file(guarded_supervisord, tmp_path):
    lab = guarded_supervisord
    pid = lab.info()["pid"]
    command = SupervisorctlCommand([lab.supervisorctl, "-u", supervisord_lab.USERNAME, "-p", lab.password])
    assert command.rpc(timeout=5) is None  # no -c nor -s: supervisorctl must run
    runner = RecordingRunner()
    service = Service("supervisor", supervisord_lab.PROGRAM, runner, supervisorctl=command, private_dir=str(tmp_path))
    assert service.ensure("restarted", timeout=15) == (True, "RUNNING")
    assert lab.info()["pid"] != pid
    (argv, (path, mode, text)), = runner.calls
    assert argv == [lab.supervisorctl, "-u", supervisord_lab.USERNAME, "-c", path, "restart", supervisord_lab.PROGRAM]
    assert lab.password not in " ".join(argv)
    assert mode == "0o600" and os.path.dirname(path) == str(tmp_path)
    # the serverurl of the configuration supervisorctl found, its %(here)s made absolute
    assert "serverurl=unix://%s/../sv.sock" % os.path.dirname(lab.conf) in text.splitlines()
    assert not os.path.exists(path)


def test_with_its_configuration_named_supervisord_is_asked_over_xml_rpc_with_the_password(guarded_supervisord):
    lab = guarded_supervisord
    pid = lab.info()["pid"]
    command = SupervisorctlCommand([lab.supervisorctl, "-c", lab.conf, "-u", supervisord_lab.USERNAME],
                                   password=lab.password)
    runner = RecordingRunner()
    service = Service("supervisor", supervisord_lab.PROGRAM, runner, supervisorctl=command, rpc=command.rpc(timeout=20))
    assert service.ensure("restarted", timeout=15) == (True, "RUNNING")
    assert runner.calls == [] and lab.info()["pid"] != pid


def test_a_wrong_password_is_refused_by_supervisord_and_shown_nowhere(guarded_supervisord, tmp_path):
    lab = guarded_supervisord
    wrong = "wrong-" + lab.password
    command = SupervisorctlCommand([lab.supervisorctl, "-c", lab.conf, "-u", supervisord_lab.USERNAME, "-p", wrong])
    runner = RecordingRunner()
    service = Service("supervisor", supervisord_lab.PROGRAM, runner, supervisorctl=command, rpc=command.rpc(timeout=20),
                      private_dir=str(tmp_path))
    with pytest.raises(ServiceError) as refused:
        service.ensure("restarted", timeout=15)
    # XML-RPC answered 401, so supervisorctl was tried, with the password in its private file only
    (argv, private), = runner.calls
    assert wrong not in " ".join(argv) and private[1] == "0o600"
    assert "restart %s did not start it" % supervisord_lab.PROGRAM in str(refused.value)
    assert wrong not in str(refused.value) and list(tmp_path.iterdir()) == []
