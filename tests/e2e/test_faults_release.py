# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release-side faults on a real fleet: hostile archives and a disk that fills while the release lands.

Every case is a rolling deployment over v1 that must stop while staging: the run fails naming
the host and the cause, nothing is written outside the release directory, no partial release
is left behind, and hosts and the load balancer are as they were. Every hostile kind also goes
through the release code itself on the hosts' deploy roots, which takes milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.release.archive_members import DEFAULT_MAX_SIZE
from ansible_collections.lastmile.deploy.plugins.module_utils.release.root import ReleaseError, ReleaseRoot
from ansible_collections.lastmile.deploy.plugins.module_utils.release.history import (
    load_history,
    save_history,
    with_status,
    with_switch,
)
from conftest import host_state, run_playbook
from fleet.artifacts import Artifact
from fleet.hostile import BOMB_CHUNK, KINDS, Hostile, build_hostile, build_padded, plant_sentinel, snapshot
from fleet.playbook import release_vars
from helpers import FAST

FLEET_HOSTS = 2  # staging refusals need no batches; two hosts show that no host was switched
# deploy_max_unpacked_size is left at its default (the module's 4 GiB), so a bomb just past it is refused.
BOMB_SIZE = DEFAULT_MAX_SIZE + BOMB_CHUNK
NEEDS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
SENTINEL = "sentinel"  # a directory next to every deploy_root, where escaping members aim
# Deployed end to end: one kind per way out (through a link, a '..' path, a hardlink) and the bomb,
# which is also the largest artifact the role copies; every kind runs through the release code below.
# LASTMILE_E2E_ALL_HOSTILE=1 deploys every kind (one playbook run each).
E2E_KINDS = KINDS if os.environ.get("LASTMILE_E2E_ALL_HOSTILE") == "1" else (
    "tar-symlink-relative", "zip-dotdot", "tar-hardlink-outside", "tar-bomb")

REFUSALS = {
    "tar-dotdot": "archive member {member!r} contains '..': expected a path inside the archive",
    "tar-absolute": "archive member {member!r} has an absolute path: expected a relative one",
    "tar-symlink-absolute": "archive member {member!r} is a symlink to {outside!r}: expected a relative target inside the release",
    "tar-symlink-relative": "archive member {member!r} is a symlink to '../../../sentinel', which resolves outside the release",
    "tar-link-alias": "archive member {member!r} would be written through a link at 'L': expected real directories on its path",
    "tar-hardlink-outside": "archive member {member!r} is a hardlink to {secret!r}: expected an earlier regular file inside the release",
    "tar-chardev": "archive member {member!r} is a device or fifo: expected files, directories and links",
    "tar-fifo": "archive member {member!r} is a device or fifo: expected files, directories and links",
    "tar-bomb": "archive unpacks to more than %d bytes (reached at member {member!r}): refusing it as a possible "
                "decompression bomb" % DEFAULT_MAX_SIZE,
    "zip-dotdot": "archive member {member!r} contains '..': expected a path inside the archive",
    "zip-absolute": "archive member {member!r} has an absolute path: expected a relative one",
    "zip-symlink-relative": "archive member {member!r} is a symlink to '../../../sentinel', which resolves outside the release",
    "zip-fifo": "archive member {member!r} is a device, fifo or socket: expected files, directories and links",
    "zip-bomb": "archive unpacks to more than %d bytes (reached at member {member!r}): refusing it as a possible "
                "decompression bomb" % DEFAULT_MAX_SIZE,
}
STAGING_FAILED = re.compile(r'"msg": "(Staging sample \S+ failed, nothing was switched: [^"]*)"')


@pytest.fixture(scope="module", autouse=True)
def sentinels(fleet):
    """v1 everywhere (seeded by hand: quicker than a deployment, and the runs here never switch),
    and a sentinel directory beside each host's deploy_root."""
    fleet.install_release(fleet.build_release("v1"))
    fleet.wait_lb("UP")
    return {host.name: plant_sentinel(str(Path(host.hostdir) / SENTINEL)) for host in fleet.hosts}


@pytest.fixture(scope="module")
def hostile(fleet, sentinels):
    """build(kind) -> Hostile, each kind built once: absolute targets aim at the first host's sentinel,
    relative ones (seen from releases/<version>) at each host's own."""
    first = fleet.hosts[0]
    outside_rel = os.path.relpath(sentinels[first.name], os.path.join(first.root, "releases", "v"))
    assert outside_rel == "../../../" + SENTINEL
    built = {}

    def build(kind: str) -> Hostile:
        if kind not in built:
            built[kind] = build_hostile(fleet.artifacts_dir, kind, sentinels[first.name], outside_rel, bomb_size=BOMB_SIZE)
        return built[kind]

    return build


def surroundings(fleet, sentinels):
    """What a member escaping its release could change: the sentinels' content, and the entries of
    every host directory, deploy_root and the fleet's work dir (but for the run's own records)."""
    seen = {path: snapshot(path) for path in sentinels.values()}
    for path in [fleet.workdir] + [h.hostdir for h in fleet.hosts] + [h.root for h in fleet.hosts]:
        seen[path] = sorted(set(os.listdir(path)) - {".lastmile", "playbooks.log"})
    return seen


def refusal(kind: str, hostile: Hostile, sentinels, fleet) -> str:
    outside = sentinels[fleet.hosts[0].name]
    return REFUSALS[kind].format(member=hostile.member, outside=outside, secret=os.path.join(outside, "secret.txt"))


def assert_nothing_escaped(fleet, sentinels, hostile: Hostile, before, around):
    for path in hostile.escapes:
        assert not os.path.lexists(path), "%s escaped its release to %s" % (hostile.kind, path)
    assert surroundings(fleet, sentinels) == around, "something was written outside the release"
    # no releases/<kind> and no temporary extraction dir: host_state lists releases/ with hidden entries
    assert host_state(fleet) == before


def staging_failure(output: str) -> str:
    found = STAGING_FAILED.findall(output)
    assert len(found) == 1, "expected one 'Staging ... failed' message:\n" + output[-3000:]
    return found[0]


def deploy_artifact(fleet, artifact: Artifact):
    return run_playbook(fleet, "deploy", {**FAST, **release_vars(artifact)})


def test_every_hostile_kind_has_an_expected_refusal():
    assert sorted(REFUSALS) == sorted(KINDS)
    assert set(E2E_KINDS) <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_release_code_refuses_hostile_archive_on_the_fleet_layout(fleet, sentinels, hostile, kind):
    """Every kind through the code the release module runs, on each host's real deploy_root (quick)."""
    bad = hostile(kind)
    before, around = host_state(fleet), surroundings(fleet, sentinels)
    for host in fleet.hosts:
        with pytest.raises(ReleaseError) as refused:
            ReleaseRoot(host.root).unpack(kind, src=bad.artifact.path, checksum=bad.artifact.checksum)
        assert str(refused.value) == refusal(kind, bad, sentinels, fleet)
    assert_nothing_escaped(fleet, sentinels, bad, before, around)


@pytest.mark.parametrize("kind", E2E_KINDS)
def test_deployment_of_hostile_archive_stops_while_staging(fleet, sentinels, hostile, kind):
    bad = hostile(kind)
    before, around = host_state(fleet), surroundings(fleet, sentinels)

    run = deploy_artifact(fleet, bad.artifact)

    assert run.rc != 0, run.output[-3000:]
    message = staging_failure(run.output)
    for host in fleet.hosts:
        assert "%s: Send the verified artifact and unpack the release: %s" % (host.name, refusal(kind, bad, sentinels, fleet)) in message, message
    assert_nothing_escaped(fleet, sentinels, bad, before, around)
    assert set(fleet.versions().values()) == {"v1"}


@contextlib.contextmanager
def small_filesystem(directory: str, size: int, seeded: bool = True):
    """Mount a tmpfs of ``size`` bytes over ``directory``, ``seeded`` with a copy of what it held;
    unmounting shows the untouched original again."""
    seed = tempfile.mkdtemp(prefix="lmf-seed-")
    try:
        if seeded:
            shutil.copytree(directory, os.path.join(seed, "content"), symlinks=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0755" % size, "tmpfs", directory],
                       check=True, capture_output=True, text=True)
        try:
            if seeded:
                shutil.copytree(os.path.join(seed, "content"), directory, symlinks=True, dirs_exist_ok=True)
            yield
        finally:
            if subprocess.run(["umount", directory], check=False).returncode != 0:
                subprocess.run(["umount", "-l", directory], check=True)
    finally:
        shutil.rmtree(seed, ignore_errors=True)


def releases_listing(host) -> list:
    return sorted(os.listdir(os.path.join(host.root, "releases")))


@NEEDS_ROOT
def test_disk_filling_up_while_unpacking_leaves_no_partial_release(fleet):
    full, other = fleet.hosts
    base = fleet.build_release("v1")
    # a few KiB of artifact that needs 4 MiB once unpacked, onto a 1 MiB filesystem
    big = build_padded(fleet.artifacts_dir, base, "vfull", padding=4 * 1024 * 1024)
    assert os.path.getsize(big.path) < 64 * 1024
    releases = os.path.join(full.root, "releases")
    before = host_state(fleet)
    with small_filesystem(releases, 1024 * 1024):
        v1_files = snapshot(os.path.join(releases, "v1"))
        listed = releases_listing(full)

        run = deploy_artifact(fleet, big)

        assert run.rc != 0, run.output[-3000:]
        message = staging_failure(run.output)
        assert "%s: Send the verified artifact and unpack the release: cannot unpack" % full.name in message, message
        assert "into %s/vfull: No space left on device" % releases in message, message
        assert re.search(r"\(\d+ bytes and \d+ inodes free in %s once the partial release was removed\)"
                         % re.escape(releases), message), message
        assert other.name + ":" not in message, "the host with room should have staged the release"
        assert releases_listing(full) == listed, "a partial release or temporary directory was left behind"
        assert snapshot(os.path.join(releases, "v1")) == v1_files, "v1 changed on the full filesystem"
    after = host_state(fleet)
    # the other host staged vfull beside v1 but was never switched
    assert after[other.name]["releases"] == sorted(before[other.name]["releases"] + ["vfull"])
    after[other.name]["releases"] = before[other.name]["releases"]
    assert after == before
    assert set(fleet.versions().values()) == {"v1"}


@NEEDS_ROOT
def test_disk_too_full_for_the_artifact_transfer_stops_before_unpacking(fleet, tmp_path):
    base = fleet.build_release("v1")
    # 2 MiB that do not compress, onto a 1 MiB filesystem holding Ansible's temporary directory
    # (room for the modules' own payloads, not for the artifact)
    big = build_padded(fleet.artifacts_dir, base, "vcopy", padding=2 * 1024 * 1024, incompressible=True)
    assert os.path.getsize(big.path) > 2 * 1024 * 1024
    remote_tmp = str(tmp_path / "remote-tmp")
    os.makedirs(remote_tmp)
    before = host_state(fleet)
    with small_filesystem(remote_tmp, 1024 * 1024, seeded=False):
        run = run_playbook(fleet, "deploy", {**FAST, **release_vars(big), "ansible_remote_tmp": remote_tmp})

        assert run.rc != 0, run.output[-3000:]
        message = staging_failure(run.output)
        for host in fleet.hosts:
            assert "%s: Send the verified artifact and unpack the release: cannot send %s" % (host.name, big.path) in message, message
        assert "No space left on device" in message, message
        assert os.listdir(remote_tmp) == [], "a partial artifact or temporary directory was left behind"
    assert host_state(fleet) == before
    assert set(fleet.versions().values()) == {"v1"}


def fill_when(ready, directory: str, stop):
    """Once ``ready()``, fill the filesystem of ``directory`` to the last byte (until ``stop`` is set or it is full)."""
    while not stop.is_set():
        if ready():
            try:
                with open(os.path.join(directory, "filler"), "wb", buffering=0) as filler:
                    while True:
                        filler.write(b"\0" * 4096)
            except OSError:  # full
                return
        stop.wait(0.01)


@NEEDS_ROOT
def test_a_switch_a_full_disk_could_not_record_is_undone_by_the_rollback(fleet):
    """current is switched, state.json cannot be written: the result says the host was switched, and the
    rollback puts it back, instead of leaving it on the release that failed."""
    full, other = fleet.hosts
    v2 = fleet.build_release("v2")
    state_dir = os.path.join(full.root, ".lastmile")
    for host in fleet.hosts:  # v1 was seeded by hand: record it as deployed, as a deployment would have
        save_history(host.root, with_status(with_switch(load_history(host.root), "v1"), "v1", "succeeded"))
    lb_before = {n: (s["admin"], s["weight"]) for n, s in fleet.haproxy.server_states().items()}
    stop = threading.Event()
    with small_filesystem(state_dir, 256 * 1024):
        # the disk fills once v2 is staged on the host, before any switch
        filler = threading.Thread(target=fill_when, args=(
            lambda: os.path.isdir(os.path.join(full.root, "releases", "v2")), state_dir, stop), daemon=True)
        filler.start()
        try:
            run = deploy_artifact(fleet, v2)
        finally:
            stop.set()
            filler.join()
        assert run.rc != 0, run.output[-3000:]
        assert ("%s: Switch current and restart the service, then verify its health (release v2): current now points at release 'v2' (it was "
                "'v1'), but the switch could not be recorded in %s/state.json: No space left on device"
                % (full.name, state_dir)) in run.output, run.output[-3000:]
        assert full.current_target() == "releases/v1", "the rollback left %s on %s" % (full.name, full.current_target())
        assert full.version() == "v1" and other.version() == "v1"
        assert other.current_target() == "releases/v1"
    assert {n: (s["admin"], s["weight"]) for n, s in fleet.haproxy.server_states().items()} == lb_before
