# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Self-test of the local test fleet: real supervisord, HAProxy and sample app processes."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request

import pytest
import yaml

from fleet import Fleet, FleetError, LoadGenerator, build_release, runtime_command
from fleet.addresses import free_base_address, worker_range
from fleet.artifacts import read_sums
from fleet.procs import free_port, pid_alive, port_open, process_kind, processes_using, wait_until

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(sys.prefix, "bin")


def get(url: str, timeout: float = 3.0) -> tuple:
    """(status, body text) of a GET, also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_build_release_is_deterministic_and_listed_in_sums(tmp_path, monkeypatch):
    first = build_release(str(tmp_path / "a"), "v1")
    monkeypatch.setattr(time, "time", lambda: 2000000000.0)  # another wall clock, same bytes
    second = build_release(str(tmp_path / "b"), "v1")
    monkeypatch.undo()
    with open(first.path, "rb") as f:
        real_digest = hashlib.sha256(f.read()).hexdigest()

    assert first.sha256 == second.sha256 == real_digest
    assert first.checksum == "sha256:" + real_digest
    assert os.path.basename(first.path) == "sample-v1.tar.gz"
    with tarfile.open(first.path) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("release.json"))
    assert names == sorted(names), names
    assert {"app.py", "release.json", "static", "static/index.html"} <= set(names), names
    assert manifest == {"version": "v1", "mode": "good"}

    bad = build_release(str(tmp_path / "a"), "v2-bad", mode="errors", error_rate=0.5)
    assert bad.sha256 != first.sha256
    assert read_sums(str(tmp_path / "a" / "SHA256SUMS")) == {
        "sample-v1.tar.gz": first.sha256, "sample-v2-bad.tar.gz": bad.sha256}


def test_build_release_rejects_bad_input(tmp_path):
    with pytest.raises(FleetError, match="'sideways'"):
        build_release(str(tmp_path), "v1", mode="sideways")
    with pytest.raises(FleetError, match="colour"):
        build_release(str(tmp_path), "v1", colour=1)
    with pytest.raises(FleetError, match="'../v1'"):
        build_release(str(tmp_path), "../v1")


def run_app(release_dir: str, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=release_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def unpack(artifact, dest) -> str:
    with tarfile.open(artifact.path) as tar:
        tar.extractall(str(dest), filter="data")
    return str(dest)


def test_sample_app_errors_mode_spreads_failures_exactly(tmp_path):
    artifact = build_release(str(tmp_path / "art"), "v5", mode="errors", error_rate=0.25, start_delay=0)
    port = free_port()
    app = run_app(unpack(artifact, tmp_path / "rel"), port)
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 10, "sample app listening")
        codes = [get("http://127.0.0.1:%d/" % port)[0] for request in range(20)]
        health = get("http://127.0.0.1:%d/health" % port)
    finally:
        app.send_signal(signal.SIGTERM)
        app.communicate(timeout=10)
    assert codes.count(500) == 5 and codes.count(200) == 15, codes
    assert 500 not in codes[:3], "failures should be spread, not front-loaded: %s" % codes
    assert health == (200, "ok v5\n")


def test_sample_app_sigterm_finishes_in_flight_request(tmp_path):
    artifact = build_release(str(tmp_path / "art"), "v6", start_delay=0, response_delay=2.5)
    port = free_port()
    app = run_app(unpack(artifact, tmp_path / "rel"), port)
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 10, "sample app listening")
        result = {}
        slow = threading.Thread(target=lambda: result.update(answer=get("http://127.0.0.1:%d/" % port, 10)))
        slow.start()
        time.sleep(0.3)
        app.send_signal(signal.SIGTERM)
        wait_until(lambda: not port_open("127.0.0.1", port), 1.8, "listener closed after SIGTERM")
        assert slow.is_alive(), "the slow request should still be in flight when the listener closes"
        slow.join(10)
        output, errors = app.communicate(timeout=10)
    finally:
        if app.poll() is None:
            app.kill()
            app.communicate()
    exit_code = app.returncode
    assert result.get("answer") == (200, json.dumps({"version": "v6", "host": "127.0.0.1"}) + "\n"), result
    assert exit_code == 0, output
    assert "started version v6" in output and "stopped version v6 (0 request(s)" in output, output


def test_sample_app_nostart_exits_at_once(tmp_path):
    artifact = build_release(str(tmp_path / "art"), "v7", mode="nostart")
    port = free_port()
    app = run_app(unpack(artifact, tmp_path / "rel"), port)
    output, errors = app.communicate(timeout=10)
    assert app.returncode == 1, output
    assert "nostart" in output
    assert not port_open("127.0.0.1", port)


def test_load_generator_counts_refused_connections():
    with LoadGenerator("http://127.0.0.1:%d/" % free_port(), concurrency=2, timeout=1) as gen:
        time.sleep(0.3)
    report = gen.stop()
    assert report.total > 0 and report.ok == 0, report.summary()
    assert report.failed == report.failures["refused"] == report.total, report.summary()
    assert report.samples and report.samples[0]["kind"] == "refused", report.samples


def test_load_generator_stops_itself_after_max_seconds():
    gen = LoadGenerator("http://127.0.0.1:%d/" % free_port(), concurrency=1, timeout=1, max_seconds=0.3,
                        pause=0.05).start()
    wait_until(lambda: not gen.running, 5, "load generator stopping after max_seconds")
    assert gen.stop().hit_time_limit


def test_inventory_parses_with_ansible(tmp_path):
    fleet = Fleet(hosts=2, base_address=free_base_address(2))
    try:
        path = fleet.write_inventory(str(tmp_path / "inv.yml"), extra_vars={"deploy_version": "v9"})
        done = subprocess.run([os.path.join(VENV_BIN, "ansible-inventory"), "-i", path, "--list"], cwd=REPO,
                              capture_output=True, text=True, timeout=60, check=False)
    finally:
        shutil.rmtree(fleet.workdir, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    inv = json.loads(done.stdout)
    assert sorted(inv["app"]["hosts"]) == ["app1", "app2"] and inv["lb"]["hosts"] == ["lb1"]
    app2 = inv["_meta"]["hostvars"]["app2"]
    assert app2["ansible_host"] == "127.0.0.%d" % (fleet.base_address + 1)
    assert app2["deploy_root"] == os.path.join(fleet.workdir, "app2", "app")
    assert app2["deploy_supervisorctl"].endswith("-c %s/app2/sv/supervisord.conf" % fleet.workdir)
    assert app2["deploy_haproxy_socket"] == fleet.haproxy.socket
    assert app2["deploy_version"] == "v9" and app2["deploy_service_manager"] == "supervisor"


@pytest.fixture
def fleet():
    f = Fleet(hosts=2, base_address=free_base_address(2), tcp_admin=True)
    try:
        yield f
    finally:
        f.stop(remove_workdir=False)
        shutil.rmtree(f.workdir, ignore_errors=True)


def test_fleet_lifecycle(fleet):
    fleet.start()
    app1, app2 = fleet.hosts
    base = fleet.base_address
    assert (app1.address, app2.address) == ("127.0.0.%d" % base, "127.0.0.%d" % (base + 1))
    assert len(app1.socket) < 100, app1.socket
    assert os.path.exists(fleet.inventory_path) and os.path.exists(fleet.state_path)
    with open(fleet.inventory_path, encoding="utf-8") as f:
        assert yaml.safe_load(f)["all"]["children"]["app"]["hosts"]["app1"]["deploy_root"] == app1.root
    assert fleet.versions() == {"app1": None, "app2": None}, "no release deployed yet: nothing should answer"
    assert app1.current_target() is None

    # a good release by hand on both hosts; steady load through HAProxy sees no failure
    v1 = fleet.build_release("v1")
    assert fleet.install_release(v1) == {"app1": "RUNNING", "app2": "RUNNING"}, fleet.diagnostics()
    assert fleet.versions() == {"app1": "v1", "app2": "v1"}
    assert app2.current_target() == os.path.join("releases", "v1")
    states = fleet.wait_lb("UP", timeout=15)
    for name in ("app1", "app2"):
        assert (states[name]["status"], states[name]["weight"], states[name]["admin"]) == ("UP", 100, "ready"), \
            states
    with fleet.load(concurrency=4) as gen:
        time.sleep(1.5)
    report = gen.stop()
    assert report.failed == 0 and report.total >= 50, report.summary()
    assert report.versions == {"v1": report.total}, report.summary()
    assert set(report.hosts) == {app1.address, app2.address}, report.summary()
    with fleet.load("/missing", concurrency=1) as gen:
        time.sleep(0.2)
    missing = gen.stop()
    assert missing.total > 0 and missing.status_codes == {404: missing.total}, missing.summary()
    assert missing.failures["status"] == missing.failed == missing.total, missing.summary()

    # the independent runtime helper: tcp socket, and runtime weights surviving a reload
    assert "Name: HAProxy" in runtime_command(fleet.haproxy.tcp_socket, "show info")
    fleet.haproxy.command("set weight sample/app2 40")
    fleet.haproxy.command("set server sample/app1 state drain")
    old_worker = fleet.haproxy.worker_pid()
    fleet.haproxy.reload()
    assert fleet.haproxy.worker_pid() != old_worker
    states = fleet.haproxy.server_states()
    assert (states["app1"]["admin"], states["app2"]["weight"]) == ("drain", 40), states
    fleet.haproxy.command("set server sample/app1 state ready")
    fleet.haproxy.command("set weight sample/app2 100")

    # an unhealthy build answers /health with 503 and HAProxy takes the server out
    sick = fleet.build_release("v2-sick", mode="unhealthy")
    app2.install_release(sick)
    assert get("http://%s:8080/health" % app2.address) == (503, "unhealthy v2-sick\n")
    assert app2.version() == "v2-sick"
    fleet.wait_lb("DOWN", hosts=["app2"], timeout=10)

    # a nostart build never listens; supervisor gives up on it
    broken = fleet.build_release("v3-broken", mode="nostart")
    state = app1.install_release(broken)
    assert state == "FATAL", state
    assert app1.version() is None
    for attempt in range(10):
        assert not port_open(app1.address, 8080), "nostart release must never listen"
        time.sleep(0.1)

    # stop leaves nothing behind
    running = fleet.processes()
    kinds = sorted(process_kind(cmd) for cmd in running.values())
    # app1 runs nothing (nostart); haproxy = master + worker
    assert kinds == ["app", "haproxy", "haproxy", "supervisord", "supervisord"], running
    killed = fleet.stop(remove_workdir=False)
    assert killed == {}, "stop had to SIGKILL leftovers: %s" % killed
    assert [pid for pid in running if pid_alive(pid)] == []
    assert processes_using(fleet.workdir) == {}
    assert not port_open(app2.address, 8080) and not port_open("127.0.0.1", fleet.lb_port)


def test_cli_up_status_build_down():
    workdir = "/tmp/lmf-t%d" % os.getpid()
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "tests"))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fleet", *args, "--dir", workdir], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=60, check=False)
    try:
        base = free_base_address(1)
        up = cli("up", "--hosts", "1", "--base-address", "auto")
        assert up.returncode == 0, up.stderr
        assert json.loads(up.stdout)["hosts"][0]["address"] == "127.0.0.%d" % base
        built = cli("build", "--version", "v4", "--mode", "errors", "--error-rate", "0.1")
        assert built.returncode == 0, built.stderr
        artifact = json.loads(built.stdout)
        with open(artifact["path"], "rb") as f:
            assert artifact["checksum"] == "sha256:" + hashlib.sha256(f.read()).hexdigest()
        status = cli("status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["hosts"][0]["status"] in ("STARTING", "BACKOFF", "FATAL"), status.stdout
        assert Fleet.attach(workdir).processes(), "up should leave the fleet running"
    finally:
        down = cli("down", "--purge")
    assert down.returncode == 0, down.stderr
    assert processes_using(workdir) == {}
    assert not os.path.exists(workdir)


def test_worker_ranges_do_not_overlap_and_free_block_skips_a_busy_address():
    assert worker_range("gw0") == range(11, 71) and worker_range("gw1") == range(71, 131)
    assert worker_range("") == range(11, 255)
    with pytest.raises(FleetError, match="gw4"):
        worker_range("gw4")
    first = free_base_address(2)
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.%d" % (first + 1), 8080))
    busy.listen()
    try:
        second = free_base_address(2)
    finally:
        busy.close()
    assert second != first and not {first + 1}.intersection(range(second, second + 2)), (first, second)
    assert second in worker_range()
