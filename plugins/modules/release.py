#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release
short_description: Unpack, switch, record and prune application releases on a host
version_added: 0.1.0
description:
  - Manages the release layout under O(root) on an application host.
  - C(releases/<version>/) holds each unpacked release, which is never modified once in
    place; C(shared/<path>) holds paths shared by all releases, linked into each one;
    C(current) is a relative symlink to C(releases/<version>), switched atomically;
    C(.lastmile/state.json) keeps the host's release history.
  - Archives (tar, tar.gz/tgz, zip, recognised by content) are unpacked safely into a
    temporary directory under C(releases/) and renamed into place. Members with absolute
    paths, C(..), devices, fifos or sparse files are refused, and so are archives that unpack to more
    than O(max_size) bytes or O(max_members) members. Nothing is ever written through a
    link, so a member whose path passes through a link (even one inside the release) is
    refused. Once all members are in place, every link in the unpacked tree is judged
    where it leads then; an archive with a link leading outside the release is refused,
    naming the member that made it, before any directory mode is applied.
    On any failure the temporary directory is removed and nothing else changes.
  - Links are judged one name at a time, as the kernel resolves them; an entry that cannot be
    read refuses the archive rather than being taken as missing. The work of judging is bounded;
    an archive whose links would take more than ten million lookups to judge is refused as too
    costly to judge.
  - Some limits hold whatever O(max_size) and O(max_members) are, so that a small archive cannot
    exhaust the host. A member name or link target must be shorter than 4096 bytes (C(PATH_MAX)), with
    no name in it longer than 255 bytes (C(NAME_MAX)); a member may be at most 256 levels deep. The
    extended tar headers (pax, GNU long names) before one member, and the global pax headers of the
    whole archive, may hold at most 1 MiB each; an archive with more is refused before they are read.
  - Shared paths (O(shared_paths)) are linked in before the final judgement, which sees the release as
    it will be used. Each shared directory is treated as a jail reached through its link; a link of the
    archive may lead into C(<root>/shared/<path>) but never climb out of it, and links in what the
    release seeds there must stay inside it. Such an archive is refused naming the member.
  - Modes of members are kept except the setuid, setgid and sticky bits and write permission for
    others, which are dropped (a C(0777) file is unpacked C(0775), a C(1777) directory C(0775)).
  - The archive is read once, into a private temporary file in C(releases/) while its
    checksum is computed, and that copy is what is unpacked, so the bytes unpacked are the
    bytes verified, even if O(src) changes meanwhile. It needs room for the archive itself
    next to the release while unpacking.
  - The rollback target (RV(previous)) is the newest release recorded as C(succeeded)
    before the current release's newest history entry, other than the current release and
    still unpacked. Releases recorded as C(pending), C(failed) or C(rolled_back) are never
    a rollback target.
  - Needs only the Python standard library on the host.
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: >-
      Archives are not read in check mode beyond their checksum. A release that is not unpacked
      yet and has no O(src) is assumed to be staged by an earlier task of the same run.
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  root:
    description: Deploy root holding C(releases/), C(shared/), C(current) and C(.lastmile/).
    type: path
    required: true
  version:
    description:
      - Release id. Letters, digits, C(.), C(_), C(-) and C(+), starting with a letter or
        digit, at most 128 characters.
    type: str
    required: true
  src:
    description:
      - Path of the release archive, on the managed host (O(remote_src=true), the default)
        or on the controller (O(remote_src=false)).
      - Required to unpack a version that is not unpacked yet. When the version is already
        unpacked, the archive's sha256 must match the one recorded at unpack time, unless
        O(force=true).
    type: path
  remote_src:
    description:
      - V(true) means O(src) is already on the managed host, for example put there by
        M(ansible.builtin.get_url).
      - V(false) means O(src) is on the controller (a relative path is looked up in the
        role's or playbook's C(files/)). The archive is sent to the task's temporary
        directory on the host and unpacked from there in the same task, one module run
        instead of a directory, a copy and an unpack; the temporary copy is removed
        afterwards, also when unpacking fails.
    type: bool
    default: true
  checksum:
    description:
      - Expected checksum of O(src), C(sha256:<hex>) or C(sha512:<hex>), verified on the
        host before anything is unpacked. An empty string means no check.
    type: str
  shared_paths:
    description:
      - Paths relative to the release (no C(..)) replaced by a relative symlink to
        C(<root>/shared/<path>). The shared path is created as a directory when missing;
        a file or directory the release ships at that path seeds it if it does not exist yet.
    type: list
    elements: str
    default: []
  strip_components:
    description: Leading path components removed from every archive member, as in C(tar --strip-components).
    type: int
    default: 0
  state:
    description:
      - V(present) unpacks the release.
      - V(current) unpacks it (when O(src) is given) and points C(current) at it, recording a
        C(pending) history entry. When C(current) was switched but the history could not be written (a full
        disk), the task fails with C(changed=true) and RV(current) naming the release it points at now.
      - V(succeeded) records that the current release O(version) deployed successfully, then
        removes old releases beyond O(keep_releases), and what interrupted runs left in
        C(releases/) (C(.tmp-<version>-*), C(.old-<version>-*), C(.rm-<version>-*)).
      - V(failed) records the release as failed; it is never a rollback target.
      - V(rolled_back) records that the release was undone.
      - V(absent) removes the release directory; the current release is refused.
    type: str
    choices: [present, current, succeeded, failed, rolled_back, absent]
    default: current
  run:
    description:
      - With O(state=current), the id of the run that switches, recorded in the history entry of the
        switch, so that a rollback tells which hosts one run changed.
    type: str
  restore:
    description:
      - With O(state=current), the switch puts back an earlier release (the restore of a failed run, a
        rollback). Its history entry says so, and the rollback target is judged from the entry of the run
        that put the release in place first.
    type: bool
    default: false
  keep_releases:
    description:
      - With O(state=succeeded), the number of releases kept. The current release, the
        rollback target and releases with a pending entry are never removed. V(0) keeps all.
      - Whatever its value, entries that interrupted runs left in C(releases/) are removed too,
        but only while no other run is unpacking into the same O(root); the entries of a run
        still under way are never removed.
    type: int
    default: 5
  force:
    description:
      - Replace an unpacked release whose recorded checksum differs from O(src). Release ids
        are meant to be immutable; the current release is never replaced.
    type: bool
    default: false
  max_size:
    description: Largest total uncompressed size of the archive, in bytes.
    type: int
    default: 4294967296
  max_members:
    description:
      - Largest number of members in the archive. Directories made for members whose parent
        directories the archive does not list count as members too, so this bounds every entry
        the archive creates.
    type: int
    default: 200000
notes:
  - O(src) is a path on the managed host unless O(remote_src=false).
seealso:
  - module: lastmile.deploy.release_info
"""

EXAMPLES = r"""
- name: Send the artifact from the controller and unpack release 1.4.2, in one task
  lastmile.deploy.release:
    root: /opt/myapp
    version: 1.4.2
    src: dist/myapp-1.4.2.tar.gz
    remote_src: false
    checksum: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    state: present

- name: Or copy the artifact to the host first
  ansible.builtin.copy:
    src: dist/myapp-1.4.2.tar.gz
    dest: /opt/myapp/.lastmile/artifacts/myapp-1.4.2.tar.gz
    mode: "0640"

- name: Unpack release 1.4.2 without making it current
  lastmile.deploy.release:
    root: /opt/myapp
    version: 1.4.2
    src: /opt/myapp/.lastmile/artifacts/myapp-1.4.2.tar.gz
    checksum: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    shared_paths: [logs, var/uploads]
    strip_components: 1
    state: present

- name: Point current at 1.4.2
  lastmile.deploy.release:
    root: /opt/myapp
    version: 1.4.2
    state: current
  register: switch

- name: Record the deployment as successful and keep 5 releases
  lastmile.deploy.release:
    root: /opt/myapp
    version: 1.4.2
    state: succeeded
    keep_releases: 5

- name: Record a failed release so it is never rolled back to
  lastmile.deploy.release:
    root: /opt/myapp
    version: 1.4.2
    state: failed
"""

RETURN = r"""
version:
  description: The release id acted on.
  returned: always
  type: str
  sample: 1.4.2
release_path:
  description: Directory of the release.
  returned: always
  type: str
  sample: /opt/myapp/releases/1.4.2
current:
  description: Release C(current) points at after the change, null if none.
  returned: always
  type: str
  sample: 1.4.2
previous:
  description: Rollback target after the change, null if there is none.
  returned: always
  type: str
  sample: 1.4.1
releases:
  description: Unpacked releases after the change, oldest first.
  returned: always
  type: list
  elements: str
  sample: [1.4.0, 1.4.1, 1.4.2]
removed:
  description: Releases removed by pruning (or by O(state=absent)).
  returned: always
  type: list
  elements: str
  sample: [1.3.9]
history:
  description: Release history of the host after the change, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    version:
      description: Release id.
      type: str
    status:
      description: One of C(pending), C(succeeded), C(failed), C(rolled_back).
      type: str
    switched_at:
      description: UTC time C(current) was switched to it, null if it never was by this module.
      type: str
    finished_at:
      description: UTC time the status was last set to a final one, null while pending.
      type: str
    run:
      description: Id of the run that made the switch; absent in entries recorded before runs had ids.
      type: str
      returned: when the switch named its run
    restore:
      description: True when the switch put back an earlier release (the restore of a failed run, a rollback).
      type: bool
      returned: when true
  sample:
    - version: 1.4.1
      status: succeeded
      switched_at: "2026-01-10T09:00:01.000000Z"
      finished_at: "2026-01-10T09:01:12.000000Z"
    - version: 1.4.2
      status: pending
      switched_at: "2026-01-12T09:00:02.000000Z"
      finished_at: null
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils.release.archive_members import (
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_SIZE,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.release.root import (
    ReleaseError,
    ReleaseRoot,
)

MARK_STATES = ("succeeded", "failed", "rolled_back")


def _view(tree: ReleaseRoot, version: str) -> dict:
    """What the diff shows: the link, this release and its status, the release list."""
    return {
        "current": tree.current,
        "release": "present" if version in tree.releases else "absent",
        "checksum": tree.checksum(version),
        "status": tree.status(version),
        "releases": list(tree.releases),
    }


def apply_state(tree: ReleaseRoot, params: dict) -> tuple:
    """Run the requested state on ``tree``; return (changed, removed versions)."""
    version, state = params["version"], params["state"]
    changed, removed = False, []
    if state in ("present", "current"):
        changed = tree.unpack(
            version,
            src=params["src"],
            checksum=params["checksum"] or None,
            shared_paths=params["shared_paths"],
            strip_components=params["strip_components"],
            force=params["force"],
            max_size=params["max_size"],
            max_members=params["max_members"],
        )["changed"]
    if state == "current":
        changed = tree.switch_current(version, params["run"], params["restore"])["changed"] or changed
    elif state in MARK_STATES:
        changed, removed = tree.record(version, state, params["keep_releases"])
    elif state == "absent":
        changed = tree.remove(version)["changed"]
        removed = [version] if changed else []
    return changed or bool(removed), removed


def run(params: dict, check_mode: bool, diff: bool) -> dict:
    """Do what ``state`` asks; the task's result."""
    for name in ("strip_components", "keep_releases"):
        if params[name] < 0:
            raise ReleaseError("%s is %d: expected 0 or more" % (name, params[name]))
    for name in ("max_size", "max_members"):
        if params[name] < 1:
            raise ReleaseError("%s is %d: expected 1 or more" % (name, params[name]))
    tree = ReleaseRoot(params["root"], check_mode=check_mode)
    release_path = tree.path(params["version"])
    before = _view(tree, params["version"])
    changed, removed = apply_state(tree, params)
    after = _view(tree, params["version"])
    summary = tree.summary()
    result = dict(
        changed=changed,
        version=params["version"],
        release_path=release_path,
        current=summary["current"],
        previous=summary["previous"],
        releases=summary["releases"],
        removed=removed,
        history=summary["history"],
    )
    if diff:
        result["diff"] = dict(before=before, after=after)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            version=dict(type="str", required=True),
            src=dict(type="path"),
            remote_src=dict(type="bool", default=True),
            checksum=dict(type="str"),
            shared_paths=dict(type="list", elements="str", default=[]),
            strip_components=dict(type="int", default=0),
            state=dict(
                type="str",
                default="current",
                choices=["present", "current", "succeeded", "failed", "rolled_back", "absent"],
            ),
            keep_releases=dict(type="int", default=5),
            run=dict(type="str"),
            restore=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
            max_size=dict(type="int", default=DEFAULT_MAX_SIZE),
            max_members=dict(type="int", default=DEFAULT_MAX_MEMBERS),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode, module._diff)
    except LastmileError as exc:
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
