"""The collection as users get it: built with ansible-galaxy, installed into a fresh path."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import REPO, run_playbook

FLEET_HOSTS = 1  # one precheck run

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the tarball and install it into an empty collections path."""
    out = tmp_path_factory.mktemp("build")
    built = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(REPO)],
                           capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball, = out.glob("lastmile-deploy-*.tar.gz")
    path = tmp_path_factory.mktemp("collections")
    # outside the repo, so its ansible.cfg (which points at the working tree) plays no part
    install = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--force", "-p", str(path),
                              str(tarball)], capture_output=True, text=True, check=False, cwd=path)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (path / "ansible_collections" / "lastmile" / "deploy" / "MANIFEST.json").is_file(), install.stdout
    return tarball, path


def test_tarball_holds_the_collection_and_no_development_files(installed):
    tarball, path = installed
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    for expected in ("MANIFEST.json", "playbooks/deploy.yml", "roles/rolling/meta/argument_specs.yml",
                     "plugins/modules/haproxy_server.py", "plugins/module_utils/_release.py"):
        assert expected in names or any(n.endswith("/" + expected) for n in names), expected
    assert not any(n.startswith((".venv", ".build", "tests/fleet", "tests/output")) for n in names)


def test_installed_collection_documents_its_modules(installed):
    tarball, path = installed
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(path))
    for module in ("release", "haproxy_server", "health_check", "artifact_verify", "host_capacity"):
        doc = subprocess.run([str(BIN / "ansible-doc"), f"lastmile.deploy.{module}"], capture_output=True, text=True,
                             env=env, cwd=path, check=False)
        assert doc.returncode == 0 and "EXAMPLES" in doc.stdout, doc.stderr


def test_installed_collection_runs_a_precheck_against_the_fleet(installed, fleet):
    tarball, path = installed
    artifact = fleet.build_release("v1")
    run = run_playbook(fleet, "precheck", {"deploy_version": "v1", "deploy_artifact": str(artifact.path),
                                           "deploy_checksum": artifact.checksum, "deploy_max_cpu_percent": 100,
                                           "deploy_cpu_sample_seconds": 0.2},
                       collections_path=path)
    # ANSIBLE_COLLECTIONS_PATH names only the fresh path, so this ran the installed copy
    assert run.rc == 0, run.output[-3000:]
    assert run.total_changed() == 0
