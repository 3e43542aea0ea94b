#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_info
short_description: Read the releases, current release, rollback target and history of a host
version_added: 0.1.0
description:
  - Reads the release layout under O(root) written by M(lastmile.deploy.release) and
    changes nothing.
  - A missing O(root) is not an error; it reports no current release and no releases.
  - The rollback target (RV(previous)) is the newest release recorded as C(succeeded)
    before the history entry of the run that put the current release in place (its newest entry
    that is not a restore), other than the current release and still unpacked. Releases recorded
    as C(pending), C(failed) or C(rolled_back) are never a rollback target.
  - Needs only the Python standard library on the host.
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It changes nothing, so it runs the same in check mode.
  diff_mode:
    support: N/A
    details: It changes nothing, so there is no diff.
  platform:
    platforms: posix
options:
  root:
    description: Deploy root holding C(releases/), C(shared/), C(current) and C(.lastmile/).
    type: path
    required: true
seealso:
  - module: lastmile.deploy.release
"""

EXAMPLES = r"""
- name: Read the release state of the host
  lastmile.deploy.release_info:
    root: /opt/myapp
  register: release_state

- name: Show what a rollback would go back to
  ansible.builtin.debug:
    msg: "current {{ release_state.current }} ({{ release_state.current_status }}), rollback to {{ release_state.previous }}"
"""

RETURN = r"""
current:
  description: Release C(current) points at, null if none.
  returned: always
  type: str
  sample: 1.4.2
current_status:
  description: Status of the newest history entry of the current release, null if it has none.
  returned: always
  type: str
  sample: succeeded
previous:
  description: Rollback target, null if there is none.
  returned: always
  type: str
  sample: 1.4.1
releases:
  description: Unpacked releases, oldest first.
  returned: always
  type: list
  elements: str
  sample: [1.4.0, 1.4.1, 1.4.2]
checksums:
  description:
    - The archive checksum each unpacked release was made from (C(sha256:<hex>)), from its marker; null for a
      release without a readable marker. A release id is immutable, so M(lastmile.deploy.release) and the deploy
      playbook refuse the same version from an artifact with another checksum.
  returned: always
  type: dict
  sample: {1.4.1: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
history:
  description: Release history of the host, oldest first.
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
      description: UTC time C(current) was switched to it, null if it never was by M(lastmile.deploy.release).
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
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.release.root import ReleaseRoot


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(root=dict(type="path", required=True)),
        supports_check_mode=True,
    )
    try:
        summary = ReleaseRoot(module.params["root"]).summary()
    except LastmileError as exc:
        module.fail_json(**failure(exc))
    module.exit_json(changed=False, **summary)


if __name__ == "__main__":
    main()
