"""The collection as users get it: built with ansible-galaxy, installed into a fresh path."""

from __future__ import annotations

import os
import re
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
                     "plugins/modules/haproxy_server.py", "plugins/module_utils/release/root.py"):
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


MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
RST_LINK = re.compile(r"<([^<>\s]+)>`__?")


def test_installed_docs_have_no_dead_links(installed):
    """Every relative link in the installed collection's documents leads to a file it ships."""
    tarball, path = installed
    root = path / "ansible_collections" / "lastmile" / "deploy"
    dead, checked = [], 0
    for doc in sorted(list(root.rglob("*.md")) + list(root.rglob("*.rst"))):
        links = (MARKDOWN_LINK if doc.suffix == ".md" else RST_LINK).findall(doc.read_text(encoding="utf-8"))
        for link in links:
            target = link.split("#", 1)[0]
            if not target or re.match(r"^[a-z]+:", target):
                continue
            checked += 1
            if not (doc.parent / target).exists():
                dead.append("%s -> %s" % (doc.relative_to(root), link))
    assert checked > 50, "too few relative links found to prove anything: %d" % checked
    assert dead == [], "dead links in the installed collection:\n" + "\n".join(dead)


def test_installed_collection_ships_the_execution_environment_and_links_the_awx_examples(installed):
    tarball, path = installed
    root = path / "ansible_collections" / "lastmile" / "deploy"
    for shipped in ("examples/execution-environment/execution-environment.yml", "examples/README.md",
                    "docs/reference/index.rst", "docs/awx.md"):
        assert (root / shipped).is_file(), shipped
    # the AWX project playbooks import lastmile.deploy's own: Galaxy's linter cannot resolve them inside the tarball
    assert not (root / "examples" / "awx").exists()
    awx = (root / "docs" / "awx.md").read_text()
    for linked in ("examples/awx/job_templates/rolling.yml", "examples/awx/project/", "examples/awx/surveys/canary.json"):
        assert "https://github.com/lastmile-deploy/lastmile.deploy/" in awx and linked in awx, linked
