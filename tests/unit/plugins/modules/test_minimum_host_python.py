# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules that run on application hosts work on the oldest Python the collection states for hosts."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import tarfile

import pytest

from ansible_collections.lastmile.deploy.tests.unit.plugins.modules.module_invocation import REPO, ansible_cli

MINIMUM = "3.8"  # README and docs/quickstart.md state it; ansible-core 2.18 and 2.19 need it on hosts too


def minimum_python():
    """A Python MINIMUM that runs (a pyenv shim may name one it cannot start), None when there is none."""
    found = sorted(glob.glob("/root/.pyenv/versions/%s.*/bin/python%s" % (MINIMUM, MINIMUM))) + [
        shutil.which("python" + MINIMUM), "/usr/bin/python" + MINIMUM]
    for path in filter(None, found):
        try:
            done = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30, check=False)
        except OSError:
            continue
        if done.stdout.strip() == MINIMUM:
            return path
    return None


PYTHON = minimum_python()
pytestmark = pytest.mark.skipif(PYTHON is None, reason="no Python %s on this machine" % MINIMUM)


def on_host(module, args):
    """Run a module through the ansible CLI with the minimum Python as the host's interpreter."""
    ansible, env = ansible_cli()
    command = ansible + ["localhost", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % PYTHON,
                         "-m", "lastmile.deploy." + module, "-a", json.dumps(args)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    start = done.stdout.find("{", done.stdout.find("localhost | "))
    assert start >= 0, done.stdout + done.stderr
    return done.returncode, json.JSONDecoder().raw_decode(done.stdout[start:])[0]


def test_a_release_goes_in_under_the_lock_on_the_minimum_python(tmp_path):
    source = tmp_path / "app.txt"
    source.write_text("release 1.0\n")
    archive = tmp_path / "shop-1.0.tar.gz"
    with tarfile.open(str(archive), "w:gz") as tar:
        tar.add(str(source), arcname="app.txt")
    root = str(tmp_path / "shop")
    rc, taken = on_host("deploy_lock", dict(root=root, purpose="test", read_releases=True,
                                            read_capacity=dict(path=str(tmp_path), cpu_sample_seconds=0.1)))
    assert rc == 0 and taken["holder"]["pid"] and "capacity" in taken, taken
    rc, result = on_host("release", dict(root=root, version="1.0", src=str(archive), state="current"))
    assert rc == 0 and result["changed"] and result["current"] == "1.0", result
    rc, result = on_host("deploy_lock", dict(root=root, state="absent", read_releases=True,
                                             record=dict(release="1.0", outcome="succeeded")))
    assert rc == 0 and result["recorded"] and result["releases_state"]["current_status"] == "succeeded", result
    rc, result = on_host("release_info", dict(root=root))
    assert rc == 0 and result["current"] == "1.0" and result["releases"] == ["1.0"], result
    assert (tmp_path / "shop" / "current" / "app.txt").read_text() == "release 1.0\n"
