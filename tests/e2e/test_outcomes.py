"""What a run reports is what is true on the hosts: the exit code, the message and the webhook's outcome."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import host_state, run_playbook
from helpers import FAST, deploy, ensure, history

FLEET_HOSTS = 3  # a --limit run leaves the others behind


class Webhook:
    """A local webhook that keeps every JSON body posted to it."""

    def __init__(self):
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server naming)
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last(self):
        assert self.bodies, "the webhook got no summary"
        return self.bodies[-1]


@pytest.fixture(scope="module")
def webhook():
    hook = Webhook()
    yield hook
    hook.server.shutdown()


def set_release_mode(host, version, mode):
    """Make ``version`` on ``host`` behave as ``mode`` from its next start (the running process keeps its own)."""
    path = Path(host.root) / "releases" / version / "release.json"
    release = json.loads(path.read_text())
    release["mode"] = mode
    path.write_text(json.dumps(release))


def test_a_rollback_that_would_leave_hosts_on_different_releases_is_refused_listing_each(fleet, webhook):
    """v3 with --limit on the first host, then v4 with --limit on the second: rolling back the newest run (the
    second host, back to v2) would leave the first on v3, so the rollback is refused, listing each host."""
    ensure(fleet, "v1", "v2")
    first, second, third = (h.name for h in fleet.hosts)
    limited = deploy(fleet, "v3", args=("--limit", first))
    assert limited.rc == 0, limited.output[-3000:]
    assert "--limit %s keeps 1 of the 3 hosts of deploy_hosts" % first in limited.output, limited.output[:3000]
    assert "%s, %s keep the release they have" % (second, third) in limited.output, limited.output[:3000]
    assert deploy(fleet, "v4", args=("--limit", second)).rc == 0
    run_id = history(fleet.hosts[1])[-1]["run"]
    before = host_state(fleet)
    run = run_playbook(fleet, "rollback", {**FAST, "deploy_notify_url": webhook.url})
    assert run.rc != 0, run.output[-3000:]
    said = re.sub(r"\s+", " ", run.output)
    assert re.search(r"A rollback of run %s would leave the hosts on different releases, so nothing was changed\. Each "
                     r"host's release, where the rollback would take it, and its history: %s: v3 stays \(history: "
                     r"[^)]*v2 succeeded, v3 succeeded\); %s: v4 -> v2 \(history: [^)]*v2 succeeded, v4 succeeded\); "
                     r"%s: v2 stays \(history: [^)]*v2 succeeded\)\." % (run_id, first, second, third), said), \
        run.output[-3000:]
    assert host_state(fleet) == before
    body = webhook.last()
    assert body["outcome"] == "failed" and body["strategy"] == "rollback", body
    assert body["releases"] == {first: "v3 (succeeded)", second: "v4 (succeeded)", third: "v2 (succeeded)"}, body
    # the fleet is brought to one release by deploying it to all of them
    assert deploy(fleet, "v3").rc == 0


def test_a_restore_with_problems_is_reported_failed_not_rolled_back(fleet, webhook):
    ensure(fleet, "v1", "v2")
    first = fleet.hosts[0]
    # v2 on the first host answers 503 once restarted: putting it back cannot pass its health check
    set_release_mode(first, "v2", "unhealthy")
    try:
        run = deploy(fleet, "v8bad", mode="nostart", deploy_health_timeout=4, deploy_notify_url=webhook.url)
        assert run.rc != 0, run.output[-3000:]
        assert ("The deployment of sample v8bad failed and putting back what it changed did not complete"
                in run.output), run.output[-3000:]
        body = webhook.last()
        assert (body["version"], body["outcome"]) == ("v8bad", "failed"), body
        assert "Restore problems" not in body["message"] and "%s: " % first.name in body["message"], body
        assert body["releases"][first.name] == "v2 (pending)", body  # switched back, never verified
    finally:
        set_release_mode(first, "v2", "good")
        first.install_release(fleet.build_release("v2"))  # relinks v2 and restarts it, now healthy
        fleet.wait_lb("UP")


def test_a_complete_restore_is_reported_rolled_back(fleet, webhook):
    ensure(fleet, "v1", "v2")
    run = deploy(fleet, "v9bad", mode="nostart", deploy_health_timeout=4, deploy_notify_url=webhook.url)
    assert run.rc != 0 and "failed and was rolled back" in run.output, run.output[-3000:]
    body = webhook.last()
    assert (body["version"], body["outcome"]) == ("v9bad", "rolled_back"), body
    assert body["releases"] == {h.name: "v2 (succeeded)" for h in fleet.hosts}, body
    assert set(fleet.versions().values()) == {"v2"}


def test_every_host_of_a_failed_batch_is_named_with_its_own_task_and_address(fleet):
    ensure(fleet, "v1", "v2")
    run = deploy(fleet, "v10sick", mode="unhealthy", deploy_batch=2, deploy_health_timeout=3)
    assert run.rc != 0
    cause = re.search(r"Cause: (.*?)\. Restored:", run.output)
    assert cause, run.output[-3000:]
    parts = cause.group(1).split("; ")
    batch = fleet.hosts[:2]
    assert len(parts) == len(batch), parts
    for host, part in zip(batch, parts):
        assert part.startswith("%s: Switch current and restart the service, then verify its health (release v10sick): "
                               "the service runs, but it is not healthy: http://%s:" % (host.name, host.address)), parts
        assert not any(other.name in part[len(host.name):] for other in fleet.hosts), part
    assert set(fleet.versions().values()) == {"v2"}
    assert all(e["status"] == "failed" for h in batch for e in history(h) if e["version"] == "v10sick")
