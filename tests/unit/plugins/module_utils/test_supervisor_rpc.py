# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""supervisord over XML-RPC: the endpoint read from a supervisorctl command line, the calls, the fallback."""

from __future__ import annotations

import os
import socketserver
import tempfile
import threading
import time
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils._service import Service, ServiceError
from ansible_collections.lastmile.deploy.plugins.module_utils._supervisor_rpc import (
    Fault, SupervisorRPC, endpoint_from_command, rpc_from_command)


def write_conf(tmp_path, text):
    path = tmp_path / "supervisord.conf"
    path.write_text(text)
    return str(path)


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


def test_a_configuration_without_its_section_means_supervisorctls_default_server(tmp_path):
    conf = write_conf(tmp_path, "[supervisord]\nlogfile=/tmp/x.log\n")
    assert endpoint_from_command(["supervisorctl", "-c", conf])["serverurl"] == "http://localhost:9001"


@pytest.mark.parametrize("argv", [
    ["supervisorctl"],                                  # supervisorctl would search its default paths
    ["supervisorctl", "-c", "/nonexistent/sv.conf"],    # unreadable
    ["supervisorctl", "-i", "-c", "/etc/sv.conf"],      # an option this reading does not know
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
