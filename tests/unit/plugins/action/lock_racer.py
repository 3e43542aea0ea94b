# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One controller taking a deployment lock through the real deploy_lock action plugin, for race tests.

Run as its own process (so that its ``ansible-playbook`` process id, the holder it records, is its
own): ``python lock_racer.py COLLECTIONS_PATH [ACTION_FILE]``. ACTION_FILE loads the action plugin
from another file (a copy of an earlier version) instead of the collection's.

It reads one root per line on stdin and takes the lock of that root as a task would. After the
action's first module run it writes ``RACER seen <json holder or null>`` and waits for a line
``go``, so that a test can let several racers see the same holder before any of them goes on;
then it writes ``RACER result <json>``. It keeps running (its lock holder alive) until stdin ends.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import action_loader, connection_loader, init_plugin_loader
from ansible.template import Templar


def load_action_class(action_file):
    if not action_file:
        return lambda **kwargs: action_loader.get("lastmile.deploy.deploy_lock", **kwargs)
    spec = importlib.util.spec_from_file_location("lock_racer_action", action_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ActionModule


def say(kind, value):
    sys.stdout.write("RACER %s %s\n" % (kind, json.dumps(value)))
    sys.stdout.flush()


def held_after_first_run(run_module):
    """``run_module`` that, after its first run, says what holder it was refused by and waits for ``go``."""
    calls = []

    def execute_then_wait(*args, **kwargs):
        outcome = run_module(*args, **kwargs)
        calls.append(outcome)
        if len(calls) == 1:
            say("seen", outcome.get("holder") if outcome.get("failed") else None)
            if sys.stdin.readline().strip() != "go":
                sys.exit(1)
        return outcome

    return execute_then_wait


def main():
    collections, action_file = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
    init_plugin_loader([collections])
    make_action = load_action_class(action_file)
    play_context, loader = PlayContext(), DataLoader()
    task_vars = {"ansible_python_interpreter": sys.executable, "ansible_connection": "local",
                 "inventory_hostname": "localhost"}
    while True:
        root = sys.stdin.readline().strip()
        if not root:
            break
        task = Task.load({"lastmile.deploy.deploy_lock": {"root": root, "purpose": "race %d" % os.getpid()}})
        action = make_action(task=task, connection=connection_loader.get("local", play_context, os.devnull),
                             play_context=play_context, loader=loader, templar=Templar(loader=loader),
                             shared_loader_obj=None)
        action._execute_module = held_after_first_run(action._execute_module)
        result = action.run(task_vars=task_vars)
        say("result", {key: result.get(key) for key in ("failed", "msg", "holder", "broken", "warnings")})


if __name__ == "__main__":
    main()
