# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release module with remote_src=false: the archive goes from the controller and is unpacked
in one task, through ansible-playbook, and the copy it sent never stays on the host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from fleet.artifacts import build_release
from fleet.playbook import ansible_env

ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Send and unpack
      lastmile.deploy.release:
        root: "{{ root }}"
        version: "{{ version }}"
        src: "{{ src }}"
        remote_src: false
        checksum: "{{ checksum }}"
        state: present
      register: unpacked

    - name: Show the result
      ansible.builtin.debug:
        msg: "RESULT {{ unpacked | to_json }}"
"""


@pytest.fixture
def place(tmp_path):
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "remote-tmp").mkdir()
    return tmp_path


def run(place: Path, extra: dict, *args: str) -> subprocess.CompletedProcess:
    extra = dict(extra, root=str(place / "app"), ansible_remote_tmp=str(place / "remote-tmp"),
                 ansible_python_interpreter=sys.executable)
    return subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", str(place / "play.yml"), "-e", json.dumps(extra), *args],
                          env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)


def result(proc: subprocess.CompletedProcess) -> dict:
    for line in proc.stdout.splitlines():
        if '"msg": "RESULT ' in line:
            return json.loads(json.loads("{" + line.strip() + "}")["msg"][len("RESULT "):])
    raise AssertionError("no result in the output:\n" + proc.stdout[-3000:] + proc.stderr[-2000:])


def release_args(artifact) -> dict:
    return {"version": artifact.version, "src": str(artifact.path), "checksum": "sha256:" + artifact.sha256}


def test_sends_unpacks_and_leaves_no_copy_then_changes_nothing(place):
    artifact = build_release(str(place / "artifacts"), "v7")
    check = run(place, release_args(artifact), "--check", "--diff")
    assert check.returncode == 0, check.stdout[-3000:]
    assert result(check)["changed"] is True
    assert not (place / "app" / "releases" / "v7").exists(), "check mode unpacked the release"

    first = run(place, release_args(artifact))
    assert first.returncode == 0, first.stdout[-3000:]
    assert result(first)["changed"] is True
    release = place / "app" / "releases" / "v7"
    assert json.loads((release / "release.json").read_text())["version"] == "v7"
    assert os.listdir(place / "remote-tmp") == [], "the sent archive stayed on the host"

    again = run(place, release_args(artifact))
    assert again.returncode == 0, again.stdout[-3000:]
    assert result(again)["changed"] is False
    assert os.listdir(place / "remote-tmp") == []


def test_refused_archive_leaves_neither_release_nor_copy(place):
    bad = place / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as archive:
        member = tarfile.TarInfo("../escape")
        archive.addfile(member)
    proc = run(place, {"version": "v8", "src": str(bad), "checksum": ""})
    assert proc.returncode != 0
    assert "../escape" in proc.stdout, proc.stdout[-3000:]
    assert not (place / "app" / "releases" / "v8").exists()
    assert not (place / "escape").exists() and not (place / "app" / "escape").exists()
    assert os.listdir(place / "remote-tmp") == []


def test_missing_controller_file_is_named(place):
    missing = str(place / "nowhere" / "v9.tar.gz")
    proc = run(place, {"version": "v9", "src": missing, "checksum": ""})
    assert proc.returncode != 0
    assert "src %s is not a file on the controller" % missing in proc.stdout, proc.stdout[-3000:]
    assert not (place / "app").exists()
