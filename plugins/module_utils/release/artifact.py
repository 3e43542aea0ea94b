# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release artifact, verified against its checksum (and downloaded first from a URL).

The core of lastmile.deploy.artifact_verify, shared by the module and its action plugin (which
runs it in the task's own process on the controller).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional, Set, Tuple
from urllib.parse import urlsplit

from ansible_collections.lastmile.deploy.plugins.module_utils.release.checksum import (
    ChecksumError,
    ensure_digest,
    fetch_verified,
    file_digests,
    format_checksum,
    resolve_checksum,
    url_basename,
)
from ansible_collections.lastmile.deploy.plugins.module_utils.http_client import (
    CertificateError,
    clean_headers,
    download,
    fetch_text,
    same_origin,
    split_credentials,
    tls_verify,
)

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")

ARGUMENT_SPEC: Dict[str, Dict[str, Any]] = dict(
    path=dict(type="path"),
    url=dict(type="str"),
    checksum=dict(type="str"),
    dest=dict(type="path", default="~/.cache/lastmile/artifacts"),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="float", default=30.0),
    allow_unverified=dict(type="bool", default=False),
    headers=dict(type="dict", no_log=True),
    url_username=dict(type="str"),
    url_password=dict(type="str", no_log=True),
    ca_path=dict(type="path"),
    release=dict(type="str"),
    unpacked=dict(type="dict"),
)
SPEC_RULES: Dict[str, Any] = dict(
    mutually_exclusive=[("path", "url")],
    required_by={"url_password": "url_username", "unpacked": "release"},
    required_one_of=[("path", "url")],
)


def check_archive_name(name: str, source: str) -> None:
    if not name.lower().endswith(ARCHIVE_SUFFIXES):
        raise ChecksumError(
            "artifact %s is not a supported archive: expected a name ending in %s"
            % (source, ", ".join(ARCHIVE_SUFFIXES))
        )


def _passwords_in(url: str) -> Set[str]:
    """The password of ``user:password@`` in a URL, as written and decoded."""
    password = split_credentials(url)[2]
    return {password, urlsplit(url).password or password} if password else set()


def secrets(params: Dict[str, Any]) -> Set[str]:
    """The passwords written into the URLs of ``params``, to hide in all output."""
    found: Set[str] = set()
    if params["url"]:
        found |= _passwords_in(params["url"])
    checksum = (params["checksum"] or "").strip()
    if checksum.lower().startswith(("http://", "https://")):
        found |= _passwords_in(checksum)
    return found


def credentials(params: Dict[str, Any]) -> Tuple[Optional[str], dict]:
    """The artifact URL without user:password@, and the request options that carry credentials."""
    url, user, password = params["url"], None, None
    if url:
        url, user, password = split_credentials(url)
    if params["url_username"] is not None:
        user, password = params["url_username"], params["url_password"]
    auth = (user, password or "") if user else None
    return url, dict(headers=clean_headers(params["headers"]), auth=auth, ca_path=params["ca_path"])


def run(params: Dict[str, Any], warn: Callable[[str], None]) -> dict:
    """Verify (and download) the artifact, then check it against the release id's; the task's result."""
    try:
        result = verify(params, warn)
    except CertificateError as exc:
        if params["ca_path"]:
            raise
        raise CertificateError(
            "%s; if a private CA signed it, give that CA's certificate with ca_path (deploy_ca_path in the roles)" % exc
        ) from exc
    check_release_id(params["release"], result["checksum"], params["unpacked"] or {})
    return result


def check_release_id(release: Optional[str], checksum: str, unpacked: Dict[str, Any]) -> None:
    """Refuse an artifact whose release id a host already unpacked from other bytes.

    A release id is immutable: the same id from other bytes would leave the hosts that have it on
    the old bytes and the others on the new ones, under one name. ``unpacked`` maps a host to the
    checksum (``sha256:<hex>``) the release was unpacked from there; hosts without it are left out.
    """
    clashing = sorted((host, theirs) for host, theirs in unpacked.items() if theirs and theirs != checksum)
    if clashing:
        raise ChecksumError(
            "release %s is already unpacked from another artifact on %s, but the artifact of this run has "
            "checksum %s. A release id is immutable: deploy this artifact under a new release id (deploy_version in "
            "the roles). Nothing was changed." % (release, ", ".join("%s (%s)" % pair for pair in clashing), checksum)
        )


def verify(params: Dict[str, Any], warn: Callable[[str], None]) -> dict:
    path = params["path"]
    timeout, validate_certs = params["timeout"], params["validate_certs"]
    url, sending = credentials(params)
    if url and not url.lower().startswith(("http://", "https://")):
        raise ChecksumError("url %r is not an http:// or https:// URL" % url)
    name = os.path.basename(path) if path else url_basename(url)
    check_archive_name(name, path or url)
    if validate_certs:
        tls_verify(validate_certs, params["ca_path"])
    plain = dict(headers=None, auth=None, ca_path=params["ca_path"])

    algorithm = expected = None
    if params["checksum"]:
        algorithm, expected = resolve_checksum(
            params["checksum"], name,
            lambda sums_url: fetch_text(
                sums_url, timeout, validate_certs, **(sending if url and same_origin(url, sums_url) else plain)
            ),
        )
    elif params["allow_unverified"]:
        warn("artifact %s is used unverified: no checksum was given" % (path or url))
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
            lambda source, target: download(source, target, timeout, validate_certs, **sending),
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
