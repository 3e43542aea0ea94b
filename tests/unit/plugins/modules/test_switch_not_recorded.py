# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``current`` switched but the history could not be written: the result says what happened on disk.

The module runs in a process whose files may not grow past a few bytes (RLIMIT_FSIZE), as on a
full disk: the new link is made (a symlink writes no file data), ``.lastmile/state.json`` cannot be.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tarfile

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.release.root import ReleaseRoot
from ansible_collections.lastmile.deploy.plugins.module_utils.release.history import load_history, save_history
from ansible_collections.lastmile.deploy.tests.unit.plugins.module_utils.fixtures import supervisord_lab
from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import COLLECTIONS

RUN_MODULE = """
import json, sys
from ansible.module_utils.testing import patch_module_args
from ansible_collections.lastmile.deploy.plugins.modules import {module} as module
with patch_module_args(json.loads(sys.argv[1])):
    module.main()
"""


def run_with_file_size_limit(module: str, args: dict, limit: int = 64):
    """Run a module's main() in a process that cannot write more than ``limit`` bytes to any file."""
    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    # this process's own import path: under ansible-test, ansible itself comes from there too
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(COLLECTIONS)] + [entry for entry in sys.path if entry]),
               PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", RUN_MODULE.format(module=module), json.dumps(args)], env=env,
                          preexec_fn=limited, capture_output=True, text=True, timeout=120, check=False)
    start = done.stdout.find("{")
    assert start >= 0, done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout[start:])


@pytest.fixture
def root(tmp_path):
    """A deploy root with 1.0 current and recorded, and 2.0 unpacked beside it."""
    root = tmp_path / "shop"
    tree = ReleaseRoot(str(root))
    for version in ("1.0", "2.0"):
        source = tmp_path / ("app-%s.txt" % version)
        source.write_text("release %s\n" % version)
        archive = tmp_path / ("%s.tar" % version)
        with tarfile.open(str(archive), "w") as tar:
            tar.add(str(source), arcname="app.txt")
        tree.unpack(version, str(archive))
    tree.switch_current("1.0")
    tree.mark("1.0", "succeeded")
    return root


def test_the_release_module_reports_the_switch_it_made(root):
    history = load_history(str(root))
    rc, result = run_with_file_size_limit("release", dict(root=str(root), version="2.0", state="current"))
    assert rc != 0
    assert result["changed"] is True and result["current"] == "2.0", result
    assert result["msg"].startswith("current now points at release '2.0' (it was '1.0'), but the switch could not be "
                                    "recorded in %s/.lastmile/state.json: File too large" % root), result
    assert os.readlink(str(root / "current")) == "releases/2.0"
    assert load_history(str(root)) == history
    assert not [name for name in os.listdir(str(root / ".lastmile")) if name.endswith(".tmp")]


@pytest.mark.skipif(not supervisord_lab.available(), reason="supervisord is not installed beside this Python")
def test_app_service_restarts_on_the_release_it_switched_to_and_says_it_was_not_recorded(root):
    with supervisord_lab.SupervisordLab() as lab:
        pid = lab.info()["pid"]
        rc, result = run_with_file_size_limit("app_service", dict(
            name=supervisord_lab.PROGRAM, manager="supervisor", state="restarted", timeout=20,
            supervisorctl="supervisorctl -c %s -u %s" % (lab.conf, supervisord_lab.USERNAME),
            supervisor_password=lab.password, release=dict(root=str(root), version="2.0")))
        assert rc != 0
        assert result["changed"] is True and result["status"] == "RUNNING", result
        assert result["release"] == dict(version="2.0", previous="1.0", switched=True, recorded=False), result
        assert result["msg"].endswith("File too large; the service was restarted on it"), result
        assert lab.info()["pid"] != pid, "the service still runs the release from before the switch"
    assert os.readlink(str(root / "current")) == "releases/2.0"


def test_a_switch_back_that_is_recorded_again_leaves_no_trace_of_the_failed_one(root):
    """What a rollback does next: the switch back is recorded once the disk has room again."""
    run_with_file_size_limit("release", dict(root=str(root), version="2.0", state="current"))
    tree = ReleaseRoot(str(root))
    assert tree.current == "2.0" and tree.status("2.0") is None
    assert tree.switch_current("1.0")["changed"] is True
    save_history(str(root), load_history(str(root)))
    assert ReleaseRoot(str(root)).current == "1.0"
