# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two controllers breaking the same dead run's deployment lock: exactly one takes it.

Each racer is its own process running the real deploy_lock action plugin and module (see
lock_racer.py). Both are held after their first module run until both have seen the dead holder,
then let go together, so every round races the breaks themselves. LOCK_RACE_ACTION_FILE runs the
same race against another copy of the action plugin (for example an earlier version).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from ansible_collections.lastmile.deploy.plugins.action.deploy_lock import controller_identity, process_start
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import COLLECTIONS

ROUNDS = 20
RACER = str(Path(__file__).with_name("lock_racer.py"))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def plant_dead_lock(root: Path) -> dict:
    """A lock of a run of this controller whose process is gone."""
    pid = dead_pid()
    holder = {"user": "carol", "controller": socket.gethostname(), "controller_identity": controller_identity(),
              "pid": pid, "pid_start": (process_start(os.getpid()) or 0) + 1, "started": "2026-11-26T09:00:00Z",
              "purpose": "run that died"}
    (root / ".lastmile").mkdir(parents=True)
    (root / ".lastmile" / "lock.json").write_text(json.dumps({"holder": holder, "created_dirs": []}))
    return holder


class Racer:
    def __init__(self):
        command = [sys.executable, RACER, COLLECTIONS]
        if os.environ.get("LOCK_RACE_ACTION_FILE"):
            command.append(os.environ["LOCK_RACE_ACTION_FILE"])
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(self, kind: str):
        for line in self.process.stdout:
            if line.startswith("RACER %s " % kind):
                return json.loads(line.split(" ", 2)[2])
        raise AssertionError("racer %d ended before saying %s" % (self.process.pid, kind))

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def test_two_controllers_breaking_the_same_dead_lock_one_takes_it_the_other_is_refused_naming_it(tmp_path):
    racers = [Racer(), Racer()]
    try:
        for round_number in range(ROUNDS):
            root = tmp_path / str(round_number)
            dead = plant_dead_lock(root)
            for racer in racers:
                racer.send(str(root))
            assert [racer.expect("seen")["pid"] for racer in racers] == [dead["pid"]] * 2
            for racer in racers:
                racer.send("go")
            results = {racer.process.pid: racer.expect("result") for racer in racers}
            winners = [pid for pid, result in results.items() if not result["failed"]]
            assert len(winners) == 1, "round %d: %s" % (round_number, results)
            winner = winners[0]
            (loser,) = [result for pid, result in results.items() if pid != winner]
            assert results[winner]["broken"]["pid"] == dead["pid"]
            assert "broke the deployment lock of a run that is no longer running: carol@" in results[winner]["warnings"][0]
            assert loser["holder"]["pid"] == winner, loser
            assert ("deployment lock %s is held by " % (root / ".lastmile" / "lock.json")) in loser["msg"]
            assert "(pid %d)" % winner in loser["msg"] and "for race %d" % winner in loser["msg"], loser["msg"]
            held = json.loads((root / ".lastmile" / "lock.json").read_text())["holder"]
            assert held["pid"] == winner
    finally:
        for racer in racers:
            racer.stop()
