# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Telling a dead holder of the deployment lock from a live one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from ansible_collections.lastmile.deploy.plugins.action.deploy_lock import is_dead_here, process_start, this_run


def test_this_run_names_this_controller_and_process():
    run = this_run()
    assert run["controller"] == socket.gethostname()
    assert run["pid"] == os.getpid()
    assert run["pid_start"] == process_start(os.getpid())


def test_a_live_local_holder_is_not_dead():
    assert not is_dead_here(this_run())


def test_an_exited_local_holder_is_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert is_dead_here({"controller": socket.gethostname(), "pid": child.pid, "pid_start": 1})


def test_a_reused_process_id_is_dead():
    assert is_dead_here(dict(this_run(), pid_start=process_start(os.getpid()) - 1))


def test_a_holder_on_another_controller_is_never_judged_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not is_dead_here({"controller": socket.gethostname() + "-other", "pid": child.pid, "pid_start": 1})
    assert not is_dead_here({"controller": socket.gethostname(), "pid": "x"})
