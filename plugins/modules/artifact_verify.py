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
  - Credentials for the artifact server (O(headers), O(url_username), O(url_password), or
    C(user:password@) in O(url)) are never shown in the output or logs of a run. They are sent
    to O(url), and to a checksum URL only when it has the same scheme, host and port. Redirects
    never carry them to another origin; see the notes.
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
      - C(user:password@) in the URL is taken out of it and used like O(url_username) and
        O(url_password) (which win when given too); the password is hidden in the output.
    type: str
  headers:
    description:
      - Extra request headers for the download, for example C(Authorization) with a bearer token
        or an artifact token such as C(X-JFrog-Art-Api) or C(PRIVATE-TOKEN). Sent to the origin
        of O(url) only, never to another origin a redirect leads to (see the notes).
      - Values are hidden in the output and logs, like every secret option. Surrounding
        whitespace is removed; a value with a line break is refused.
    type: dict
    version_added: 0.3.0
  url_username:
    description:
      - User name for HTTP basic authentication of the download.
    type: str
    version_added: 0.3.0
  url_password:
    description:
      - Password for HTTP basic authentication; needs O(url_username).
    type: str
    version_added: 0.3.0
  ca_path:
    description:
      - PEM file of CA certificates (or a directory of them, as C(c_rehash) writes) that the
        server certificates of O(url) and of a checksum URL are verified against, instead of the
        system's CAs. For servers whose certificate a private CA signed.
      - Ignored when O(validate_certs=false).
    type: path
    version_added: 0.3.0
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
      - Verify TLS certificates of O(url) and of a checksum URL. A certificate that cannot be
        verified stops the download with an error that says why (for example
        C(self-signed certificate)); give its CA with O(ca_path) rather than turning this off.
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
  release:
    description:
      - The release id this artifact is deployed under (C(deploy_version) in the roles), named in
        the message when O(unpacked) refuses the artifact.
      - Required with O(unpacked).
    type: str
    version_added: 0.4.0
  unpacked:
    description:
      - The checksum (V(sha256:<hex>)) each host unpacked release O(release) from, by host name,
        for the hosts that already have it.
      - A release id is immutable. The task fails, before any host changes, when one of these differs
        from the artifact's SHA-256, naming each such host and both checksums. A host whose value is
        empty is left out.
    type: dict
    version_added: 0.4.0
notes:
  - On the controller through the local connection, without become or async, the action plugin
    verifies in its own process instead of starting a module process.
  - The returned RV(checksum) is always the SHA-256 of the file, whatever algorithm verified it,
    so later steps can compare artifacts with one algorithm.
  - "Redirects: the download of O(url) and the fetch of a checksum URL follow up to 10 redirects
    (301, 302, 303, 307, 308) to C(http://) or C(https://) URLs; an 11th redirect, or one to
    another kind of URL, fails naming the URL."
  - "Credentials on redirects: every header of O(headers) and the basic authentication
    (O(url_username)/O(url_password) or C(user:password@) in the URL) go only to the origin
    (scheme, host and port) of the URL they were given for. The first redirect to a URL with
    another scheme, host or port drops all of them for the rest of the chain, also when a later
    redirect comes back to the first origin, so none is ever sent after a redirect from
    C(https) to C(http). A C(user:password@) in a redirect's C(Location) is never used, and no
    cookies are kept between redirects. When a server reached across origins answers 401 or
    403, the error says that the credentials were not forwarded and names both origins."
  - "C(~/.netrc) (or the file the C(NETRC) environment variable names) on the controller is read
    only when neither basic authentication nor an C(Authorization) header is given; its entry for
    the host of the URL is then sent under the same rule, to that URL's origin only. Proxies and
    C(REQUESTS_CA_BUNDLE) are taken from the environment as usual."
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

- name: Download from a server behind a bearer token, signed by a private CA
  lastmile.deploy.artifact_verify:
    url: https://artifacts.internal.example.com/shop/shop-1.4.2.tar.gz
    checksum: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    headers:
      Authorization: "Bearer {{ vault_artifact_token }}"
    ca_path: /etc/pki/internal-ca.pem
  delegate_to: localhost
  run_once: true

- name: Refuse release 1.4.2 from other bytes than the ones web1 unpacked it from
  lastmile.deploy.artifact_verify:
    path: /srv/builds/shop-1.4.2.tar.gz
    checksum: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    release: 1.4.2
    unpacked:
      web1: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
  delegate_to: localhost
  run_once: true

- name: Download with HTTP basic authentication
  lastmile.deploy.artifact_verify:
    url: https://nexus.example.com/repository/releases/shop/shop-1.4.2.tar.gz
    checksum: https://nexus.example.com/repository/releases/shop/SHA256SUMS
    url_username: deploy
    url_password: "{{ vault_nexus_password }}"
  delegate_to: localhost
  run_once: true

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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.release.artifact import (
    ARGUMENT_SPEC,
    SPEC_RULES,
    run,
    secrets,
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **SPEC_RULES)
    module.no_log_values.update(secrets(module.params))
    try:
        result = run(module.params, module.warn)
    except LastmileError as exc:
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
