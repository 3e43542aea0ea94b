#!/usr/bin/python
# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: artifact_verify
short_description: Verify a release artifact's checksum, downloading it first when given a URL
version_added: 0.1.0
description:
  - Checks that a release archive (C(.tar.gz), C(.tgz) or C(.zip)) has the expected SHA-256 or
    SHA-512 digest before anything is deployed.
  - The checksum is given inline (V(sha256:<hex>), V(sha512:<hex>)), or as the URL or local path
    of a C(SHA256SUMS)/C(SHA512SUMS) file that lists the artifact by file name.
  - A URL artifact is downloaded to a temporary file in O(dest), verified, then renamed to
    C(<dest>/<file name>), so a partial or corrupt download never takes the final name.
    A cached copy that already has the expected digest is not downloaded again.
  - "Runs on the controller (use C(delegate_to: localhost) and C(run_once: true)); downloads
    need the Python library C(requests) there."
author:
  - lastmile.deploy contributors (@lastmile-deploy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: partial
    details:
      - A local artifact is only read, so check mode is complete for O(path).
      - For O(url) the artifact is still downloaded into the controller cache O(dest) in check
        mode, because its checksum cannot be verified otherwise. No managed host is touched,
        and C(changed) reports whether a download happened.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details:
      - Meant for the controller; the artifact is then copied to hosts by the release step.
options:
  path:
    description:
      - Path of a local artifact on the host the module runs on.
      - Mutually exclusive with O(url); one of them is required.
    type: path
  url:
    description:
      - C(http://) or C(https://) URL of the artifact, downloaded into O(dest).
      - The file name is the last segment of the URL path.
    type: str
  checksum:
    description:
      - V(sha256:<64 hex digits>) or V(sha512:<128 hex digits>) (hex in any case).
      - Or the C(http://) or C(https://) URL, or the local path, of a SUMS file as written by
        C(sha256sum) (C(<hex>  name), C(<hex> *name)) or by C(sha256sum --tag) (BSD format).
        Its algorithm comes from its name (C(SHA512SUMS) means SHA-512), else from the digest
        length.
      - Required unless O(allow_unverified=true).
    type: str
  dest:
    description:
      - Directory that holds downloaded artifacts (created when missing). Ignored with O(path).
    type: path
    default: ~/.cache/lastmile/artifacts
  validate_certs:
    description:
      - Verify TLS certificates of O(url) and of a checksum URL.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for the server to connect or to send more data.
    type: float
    default: 30
  allow_unverified:
    description:
      - Accept an artifact without O(checksum), with a warning. Without it, a missing checksum
        is an error.
    type: bool
    default: false
notes:
  - The returned RV(checksum) is always the SHA-256 of the file, whatever algorithm verified it,
    so later steps can compare artifacts with one algorithm.
seealso:
  - module: lastmile.deploy.host_capacity
  - module: lastmile.deploy.health_check
"""

EXAMPLES = r"""
- name: Verify a local artifact
  lastmile.deploy.artifact_verify:
    path: /srv/builds/shop-1.4.2.tar.gz
    checksum: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
  delegate_to: localhost
  run_once: true

- name: Download and verify against a published SHA256SUMS file
  lastmile.deploy.artifact_verify:
    url: https://releases.example.com/shop/1.4.2/shop-1.4.2.tar.gz
    checksum: https://releases.example.com/shop/1.4.2/SHA256SUMS
    dest: /var/cache/lastmile
  delegate_to: localhost
  run_once: true
  register: artifact

- name: Use the verified copy
  ansible.builtin.debug:
    msg: "{{ artifact.path }} {{ artifact.checksum }}"
"""

RETURN = r"""
path:
  description: Local path of the verified artifact (the cached download for O(url)).
  returned: success
  type: str
  sample: /home/deploy/.cache/lastmile/artifacts/shop-1.4.2.tar.gz
checksum:
  description: SHA-256 of the file as V(sha256:<hex>), whatever algorithm verified it.
  returned: success
  type: str
  sample: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
algorithm:
  description: Algorithm used to verify the file, V(null) when O(allow_unverified) let it pass unverified.
  returned: success
  type: str
  sample: sha256
verified:
  description: Whether the file was checked against a checksum.
  returned: success
  type: bool
  sample: true
size:
  description: Size of the file in bytes.
  returned: success
  type: int
  sample: 1048576
downloaded:
  description: Whether the file was downloaded in this run (false for O(path) and for a valid cached copy).
  returned: success
  type: bool
  sample: false
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils._checksum import (
    ChecksumError,
    ensure_digest,
    fetch_verified,
    file_digests,
    format_checksum,
    resolve_checksum,
    url_basename,
)
from ansible_collections.lastmile.deploy.plugins.module_utils._http_probe import (
    ProbeError,
    download,
    fetch_text,
)

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")


def check_archive_name(name: str, source: str) -> None:
    if not name.lower().endswith(ARCHIVE_SUFFIXES):
        raise ChecksumError(
            "artifact %s is not a supported archive: expected a name ending in %s"
            % (source, ", ".join(ARCHIVE_SUFFIXES))
        )


def run(module: AnsibleModule) -> dict:
    params = module.params
    path, url = params["path"], params["url"]
    timeout, validate_certs = params["timeout"], params["validate_certs"]
    if url and not url.lower().startswith(("http://", "https://")):
        raise ChecksumError("url %r is not an http:// or https:// URL" % url)
    name = os.path.basename(path) if path else url_basename(url)
    check_archive_name(name, path or url)

    algorithm = expected = None
    if params["checksum"]:
        algorithm, expected = resolve_checksum(
            params["checksum"], name, lambda sums_url: fetch_text(sums_url, timeout, validate_certs)
        )
    elif params["allow_unverified"]:
        module.warn("artifact %s is used unverified: no checksum was given" % (path or url))
    else:
        raise ChecksumError(
            "no checksum for %s: set checksum (sha256:<hex>, sha512:<hex> or a SHA256SUMS URL) "
            "or allow_unverified=true" % (path or url)
        )

    downloaded = False
    if path:
        if not os.path.isfile(path):
            raise ChecksumError("artifact %s does not exist or is not a file" % path)
    else:
        path, downloaded = fetch_verified(
            url, params["dest"], algorithm, expected,
            lambda source, target: download(source, target, timeout, validate_certs),
        )

    digests = file_digests(path, {"sha256", algorithm or "sha256"})
    if expected is not None and algorithm is not None:
        ensure_digest(path, algorithm, expected, digests[algorithm])
    return dict(
        changed=downloaded,
        path=path,
        checksum=format_checksum("sha256", digests["sha256"]),
        algorithm=algorithm,
        verified=expected is not None,
        size=os.path.getsize(path),
        downloaded=downloaded,
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            url=dict(type="str"),
            checksum=dict(type="str"),
            dest=dict(type="path", default="~/.cache/lastmile/artifacts"),
            validate_certs=dict(type="bool", default=True),
            timeout=dict(type="float", default=30.0),
            allow_unverified=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("path", "url")],
        required_one_of=[("path", "url")],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (ChecksumError, ProbeError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
