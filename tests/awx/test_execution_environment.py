# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The example execution environment (examples/execution-environment): the build context
``ansible-builder create`` writes, its galaxy stage run here (outside a container), and the
collection-level requirements ansible-builder's introspection finds in lastmile.deploy."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Dict, List

import pytest
import yaml
from bindep.depends import Depends
from packaging.requirements import Requirement

from fleet.playbook import COLLECTIONS, REPO

BIN = Path(sys.executable).parent
EXAMPLE = REPO / "examples" / "execution-environment"
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
FROM_US = "  # from collection lastmile.deploy"
# packages that belong on the load balancer and the application hosts, never in the EE
HOST_PACKAGES = {"haproxy", "nginx", "supervisor", "systemd"}
# bindep's profiles of an RPM-based execution environment such as the example's CentOS Stream 9
EE_PLATFORM = ["platform:rpm", "platform:redhat", "platform:centos", "platform:centos-9"]


def requirement_lines(path: Path) -> List[str]:
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip()]


def clean_env() -> Dict[str, str]:
    """The environment of a container build step: no setting of this checkout's ansible.cfg."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=clean_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, "%s\n%s%s" % (" ".join(command), done.stdout, done.stderr)
    return done


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """``ansible-builder create`` on a copy of the example, with the tarball built as its comment says."""
    work = tmp_path_factory.mktemp("ee")
    definition = work / "definition"
    shutil.copytree(EXAMPLE, definition)
    run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work / "dist"), str(REPO), cwd=work)
    tarball, = (work / "dist").glob("lastmile-deploy-*.tar.gz")
    shutil.copy(tarball, definition / "lastmile-deploy.tar.gz")
    context = work / "context"
    run(str(BIN / "ansible-builder"), "create", "-f", str(definition / "execution-environment.yml"),
        "-c", str(context), "--output-filename", "Containerfile", cwd=work)
    return {"work": work, "definition": yaml.safe_load((EXAMPLE / "execution-environment.yml").read_text()),
            "context": context, "containerfile": (context / "Containerfile").read_text()}


@pytest.fixture(scope="module")
def galaxy_stage(build):
    """The galaxy stage's install, run in the context's _build directory as the Containerfile's WORKDIR /build."""
    install = re.search(r"^RUN (?:\S+=\S+ )?ansible-galaxy collection install .*$", build["containerfile"], re.M)
    assert install, build["containerfile"]
    collections = build["work"] / "usr-share-ansible" / "collections"
    run(str(BIN / "ansible-galaxy"), "collection", "install", "-r", "requirements.yml",
        "--collections-path", str(collections), cwd=build["context"] / "_build")
    return collections


def introspect(*args: str) -> dict:
    out = run(*args, cwd=REPO).stdout
    return yaml.safe_load(out[out.index("---"):])


def assert_lists_our_requirements(data: dict) -> None:
    expected_python = [line for line in requirement_lines(REPO / "requirements.txt")
                       if Requirement(line).name != "ansible-core"]  # the EE installs its own ansible-core
    assert "requests" in {Requirement(line).name for line in expected_python}
    assert [line + FROM_US for line in expected_python] == [p for p in data["python"] if p.endswith(FROM_US)]
    bindep_lines = requirement_lines(REPO / "bindep.txt")
    assert bindep_lines and [line + FROM_US for line in bindep_lines] == [s for s in data["system"] if s.endswith(FROM_US)]


def test_collection_declares_its_requirement_files():
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert meta["version"] == 1
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    for name in meta["dependencies"].values():
        assert requirement_lines(REPO / name), name
    ignored = set(GALAXY.get("build_ignore", []))
    assert not {"meta", "meta/execution-environment.yml", "requirements.txt", "bindep.txt"} & ignored


def test_bindep_file_is_valid_and_every_package_says_why():
    text = (REPO / "bindep.txt").read_text()
    packages = [rule[0] for rule in Depends(text).active_rules(EE_PLATFORM)]
    assert packages and "python3" in packages, packages
    # every line applies on the execution environment's RPM base (the example's CentOS Stream)
    assert packages == [line.split()[0] for line in requirement_lines(REPO / "bindep.txt")], packages
    assert not HOST_PACKAGES & set(packages), "host packages do not belong in the EE: %s" % packages
    lines = text.splitlines()
    for package in packages:
        index = next(i for i, line in enumerate(lines) if line.split()[:1] == [package])
        comment = []
        while index > 0 and lines[index - 1].startswith("#"):
            index -= 1
            comment.insert(0, lines[index])
        assert any(line.startswith("# %s: " % package) for line in comment), "no reason given above %s" % package


def test_introspection_of_the_development_collections_path_lists_our_requirements():
    data = introspect(str(BIN / "ansible-builder"), "introspect", str(COLLECTIONS))
    assert_lists_our_requirements(data)


def test_containerfile_installs_the_collection_on_the_definition_base(build):
    containerfile, definition = build["containerfile"], build["definition"]
    assert definition["version"] == 3
    base = definition["images"]["base_image"]["name"]
    assert re.fullmatch(r"[a-z0-9.-]+\.[a-z]+/[a-z0-9._/-]+:[A-Za-z0-9._-]+", base), base
    assert 'ARG EE_BASE_IMAGE="%s"' % base in containerfile

    # ansible-core: the releases CI tests (requirements-dev.txt), inside the collection's own range
    ours, = [Requirement(line) for line in requirement_lines(REPO / "requirements.txt")
             if Requirement(line).name == "ansible-core"]
    tested, = [Requirement(line) for line in requirement_lines(REPO / "requirements-dev.txt")
               if not line.startswith("-") and Requirement(line).name == "ansible-core"]
    wanted = Requirement(definition["dependencies"]["ansible_core"]["package_pip"])
    assert (wanted.name, wanted.specifier) == (tested.name, tested.specifier)
    lowest = min(str(spec.version) for spec in wanted.specifier if spec.operator == ">=")
    assert ours.specifier.contains(lowest), (str(ours.specifier), lowest)
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="(.*)"$', containerfile, re.M).group(1)
    assert definition["dependencies"]["ansible_core"]["package_pip"] in refs
    assert "ansible-runner" in refs

    # the galaxy stage copies the context and installs the collections of requirements.yml
    galaxy = containerfile[containerfile.index("AS galaxy"):containerfile.index("AS builder")]
    assert "COPY _build /build" in galaxy and "WORKDIR /build" in galaxy
    assert re.search(r'ansible-galaxy collection install .*-r requirements.yml --collections-path "/usr/share/ansible/collections"',
                     galaxy), galaxy
    # the builder stage introspects what was installed; the final stage installs the system packages
    assert re.search(r"introspect\.py introspect .*--write-bindep=\S+ --write-pip=\S+", containerfile)
    assert "RUN /output/scripts/install-from-bindep" in containerfile

    requirements = yaml.safe_load((build["context"] / "_build" / "requirements.yml").read_text())
    entry, = requirements["collections"]
    assert entry["type"] == "file"
    with tarfile.open(build["context"] / "_build" / entry["name"]) as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == (GALAXY["namespace"], GALAXY["name"], GALAXY["version"])


def test_galaxy_stage_installs_lastmile_deploy_with_its_requirement_files(galaxy_stage):
    installed = galaxy_stage / "ansible_collections" / "lastmile" / "deploy"
    manifest = json.loads((installed / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["version"] == GALAXY["version"]
    for name in ("meta/execution-environment.yml", "requirements.txt", "bindep.txt", "playbooks/deploy.yml"):
        assert (installed / name).is_file(), name
    assert (installed / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()


def test_builder_stage_introspection_of_the_installed_collection(build, galaxy_stage):
    scripts = build["context"] / "_build" / "scripts"
    out = build["work"] / "src"
    data = introspect(sys.executable, str(scripts / "introspect.py"), "introspect", str(galaxy_stage.parent / "collections"),
                      "--user-bindep=%s" % (build["context"] / "_build" / "bindep.txt"),
                      "--write-bindep=%s" % (out / "bindep.txt"), "--write-pip=%s" % (out / "requirements.txt"))
    assert_lists_our_requirements(data)
    # the system packages of the definition itself come along, marked as the user's
    for line in build["definition"]["dependencies"]["system"]:
        assert line + "  # from collection user" in data["system"], data["system"]
    # what the final stage installs: pip and bindep files holding requests and our bindep lines
    pip = (out / "requirements.txt").read_text().splitlines()
    assert any(Requirement(line.split("#")[0]).name == "requests" for line in pip if line.strip()), pip
    system = (out / "bindep.txt").read_text().splitlines()
    assert [line + FROM_US for line in requirement_lines(REPO / "bindep.txt")] == [s for s in system if s.endswith(FROM_US)]
