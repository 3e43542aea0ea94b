# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Artifact checksums: parsing specs and SUMS files, hashing and verifying files.

Standard library only, so it can run on any host.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import tempfile
from typing import Any, BinaryIO, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import unquote, urlsplit

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

HEX_LENGTHS = {"sha256": 64, "sha512": 128}
CHUNK_SIZE = 1024 * 1024
ACCEPTED_FORMS = (
    "sha256:<64 hex digits>, sha512:<128 hex digits>, "
    "an http(s) URL of a SHA256SUMS/SHA512SUMS file or the path of such a file"
)

_SPEC_RE = re.compile(r"^(sha256|sha512):([0-9a-f]+)$", re.IGNORECASE)
# GNU coreutils: "<hex><space><space or *><name>"
_GNU_LINE_RE = re.compile(r"^([0-9a-fA-F]+) [ *](.+)$")
# BSD / `sha256sum --tag`: "SHA256 (name) = <hex>"
_BSD_LINE_RE = re.compile(r"^SHA2?-?(?:256|512) ?\((.+)\) ?= ?([0-9a-fA-F]+)$", re.IGNORECASE)


class ChecksumError(LastmileError):
    """A checksum spec, SUMS file or file digest is not what was expected."""


def format_checksum(algorithm: str, hexdigest: str) -> str:
    """Return the canonical spec form, e.g. ``sha256:<hex>``."""
    return "%s:%s" % (algorithm, hexdigest)


def parse_checksum(spec: str) -> Tuple[str, str]:
    """Split ``sha256:<hex>`` / ``sha512:<hex>`` into (algorithm, lower-case hexdigest)."""
    match = _SPEC_RE.match(spec.strip()) if isinstance(spec, str) else None
    if match is None:
        raise ChecksumError("unsupported checksum %r: expected %s" % (spec, ACCEPTED_FORMS))
    algorithm = match.group(1).lower()
    hexdigest = match.group(2).lower()
    if len(hexdigest) != HEX_LENGTHS[algorithm]:
        raise ChecksumError(
            "checksum %r has %d hex digits: %s needs %d"
            % (spec, len(hexdigest), algorithm, HEX_LENGTHS[algorithm])
        )
    return algorithm, hexdigest


def is_sums_url(spec: str) -> bool:
    """True when the spec is an http(s) URL (of a SHA256SUMS-style file)."""
    return isinstance(spec, str) and spec.strip().lower().startswith(("http://", "https://"))


def algorithm_from_digest(hexdigest: str, source: str) -> str:
    """Infer sha256/sha512 from the length of a hex digest."""
    for algorithm, length in HEX_LENGTHS.items():
        if len(hexdigest) == length:
            return algorithm
    raise ChecksumError(
        "digest %r in %s has %d hex digits: expected 64 (sha256) or 128 (sha512)"
        % (hexdigest, source, len(hexdigest))
    )


def sums_file_algorithm(name: str) -> Optional[str]:
    """Algorithm named by a SUMS file name (``SHA512SUMS`` -> sha512), None if it names none."""
    lowered = posixpath.basename(name).lower().replace("-", "")
    for algorithm in HEX_LENGTHS:
        if algorithm in lowered:
            return algorithm
    return None


_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


def _unescape_name(name: str) -> str:
    # coreutils escapes "\", newline and carriage return in names, and marks such lines with a
    # leading "\" (GNU and --tag lines alike)
    return re.sub(r"\\([\\nr])", lambda match: _ESCAPES[match.group(1)], name)


def _parse_sums_line(line: str) -> Optional[Tuple[str, str]]:
    """Return (name, hexdigest) from one SUMS line, None for lines that are not entries."""
    escaped = line.startswith("\\")
    if escaped:
        line = line[1:]
    unescape = _unescape_name if escaped else str
    match = _BSD_LINE_RE.match(line)
    if match:
        return unescape(match.group(1)), match.group(2).lower()
    match = _GNU_LINE_RE.match(line)
    if match:
        return unescape(match.group(2)), match.group(1).lower()
    return None


def _normalise_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def parse_sums_file(text: str, filename: str) -> str:
    """Return the hexdigest listed for ``filename`` in SHA256SUMS/SHA512SUMS text.

    Accepts GNU lines (``<hex>  name``, ``<hex> *name``, ``./name``), BSD lines
    (``SHA256 (name) = <hex>``), comments and blank lines. An entry whose path ends in
    ``/filename`` also matches, so a file listing ``dist/app.tar.gz`` serves ``app.tar.gz``.
    """
    wanted = _normalise_name(filename)
    listed: List[str] = []
    found: List[str] = []
    # lines end at "\n" (or "\r\n") only: a name may hold any other character str.splitlines() breaks at
    for raw in text.split("\n"):
        line = raw.strip(" \t\r")
        if not line or line.startswith("#"):
            continue
        entry = _parse_sums_line(line)
        if entry is None:
            continue
        name = _normalise_name(entry[0])
        listed.append(name)
        if name == wanted or posixpath.basename(name) == wanted:
            found.append(entry[1])
    digests = sorted(set(found))
    if not digests:
        shown = ", ".join(listed[:10]) + (", ..." if len(listed) > 10 else "")
        raise ChecksumError(
            "%s is not listed in the checksum file (it lists: %s)" % (filename, shown or "nothing")
        )
    if len(digests) > 1:
        raise ChecksumError(
            "%s is listed %d times in the checksum file with different digests: %s"
            % (filename, len(found), ", ".join(digests))
        )
    return digests[0]


def _hashers(algorithms: Iterable[str]) -> Dict[str, Any]:
    hashers = {}
    for algorithm in algorithms:
        if algorithm not in HEX_LENGTHS:
            raise ChecksumError(
                "unsupported algorithm %r: expected one of %s" % (algorithm, ", ".join(HEX_LENGTHS))
            )
        hashers[algorithm] = hashlib.new(algorithm)
    return hashers


def stream_digests(
    handle: BinaryIO, algorithms: Iterable[str], name: str, copy_to: Optional[BinaryIO] = None,
    chunk: int = CHUNK_SIZE,
) -> Dict[str, str]:
    """Hash what is read from ``handle`` once for several algorithms; return {algorithm: hexdigest}.

    With ``copy_to``, every block hashed is also written there, so the copy holds exactly the
    bytes the digests are of. A read error is a ChecksumError naming ``name``; a write error
    (a full disk) propagates as OSError.
    """
    hashers = _hashers(algorithms)
    while True:
        try:
            block = handle.read(chunk)
        except OSError as exc:
            raise ChecksumError("cannot read %s: %s" % (name, exc.strerror or exc)) from exc
        if not block:
            break
        for hasher in hashers.values():
            hasher.update(block)
        if copy_to is not None:
            copy_to.write(block)
    return {algorithm: hasher.hexdigest() for algorithm, hasher in hashers.items()}


def file_digests(path: str, algorithms: Iterable[str], chunk: int = CHUNK_SIZE) -> Dict[str, str]:
    """Hash a file once for several algorithms; return {algorithm: hexdigest}."""
    algorithms = list(algorithms)
    _hashers(algorithms)
    try:
        with open(path, "rb") as handle:
            return stream_digests(handle, algorithms, path, chunk=chunk)
    except OSError as exc:
        raise ChecksumError("cannot read %s: %s" % (path, exc.strerror or exc)) from exc


def file_digest(path: str, algorithm: str, chunk: int = CHUNK_SIZE) -> str:
    """Hex digest of a file, read in chunks."""
    return file_digests(path, (algorithm,), chunk)[algorithm]


def ensure_digest(name: str, algorithm: str, expected: str, actual: str) -> None:
    """Raise ChecksumError naming ``name``, the expected and the actual digest if they differ."""
    if actual.lower() != expected.lower():
        raise ChecksumError(
            "checksum mismatch for %s: expected %s, got %s"
            % (name, format_checksum(algorithm, expected), format_checksum(algorithm, actual))
        )


def verify_file(path: str, spec: str) -> str:
    """Check a file against ``sha256:<hex>``/``sha512:<hex>``; return its hexdigest."""
    algorithm, expected = parse_checksum(spec)
    actual = file_digest(path, algorithm)
    ensure_digest(path, algorithm, expected, actual)
    return actual


def url_basename(url: str) -> str:
    """File name at the end of a URL path (percent-decoded)."""
    name = posixpath.basename(unquote(urlsplit(url).path))
    if not name:
        raise ChecksumError("URL %s does not end in a file name" % url)
    return name


def resolve_checksum(
    spec: str, artifact_name: str, fetch_text: Callable[[str], str]
) -> Tuple[str, str]:
    """Turn any accepted checksum form into (algorithm, hexdigest) for ``artifact_name``.

    ``fetch_text(url)`` returns the body of a SUMS file URL. The algorithm of a SUMS file
    comes from its name (SHA512SUMS -> sha512), else from the digest length.
    """
    spec = spec.strip()
    if spec.lower().startswith(("sha256:", "sha512:")):
        return parse_checksum(spec)
    if is_sums_url(spec):
        source = spec
        text = fetch_text(spec)
    elif "/" in spec or os.path.exists(spec) or spec.upper().endswith("SUMS"):
        source = spec
        try:
            with open(spec, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError as exc:
            raise ChecksumError(
                "cannot read checksum file %s: %s" % (spec, exc.strerror or exc)
            ) from exc
    else:
        return parse_checksum(spec)
    hexdigest = parse_sums_file(text, artifact_name)
    algorithm = sums_file_algorithm(url_basename(source) if is_sums_url(source) else source)
    if algorithm is None:
        algorithm = algorithm_from_digest(hexdigest, source)
    elif len(hexdigest) != HEX_LENGTHS[algorithm]:
        raise ChecksumError(
            "digest for %s in %s has %d hex digits: %s needs %d"
            % (artifact_name, source, len(hexdigest), algorithm, HEX_LENGTHS[algorithm])
        )
    return algorithm, hexdigest


def fetch_verified(
    url: str,
    dest_dir: str,
    algorithm: Optional[str],
    expected: Optional[str],
    download: Callable[[str, str], None],
) -> Tuple[str, bool]:
    """Make ``<dest_dir>/<basename of url>`` a verified copy of ``url``; return (path, downloaded).

    A cached copy that already has the expected digest is kept. Otherwise ``download(url,
    tmp_path)`` writes a temp file in ``dest_dir`` that is verified, then renamed into place,
    so a partial or wrong download never takes the final name. Without an expected digest the
    file is always downloaded again, since a cached copy cannot be trusted.
    """
    final = os.path.join(dest_dir, url_basename(url))
    if expected is not None and algorithm is not None and os.path.isfile(final):
        if file_digest(final, algorithm) == expected:
            return final, False
    try:
        os.makedirs(dest_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".%s." % os.path.basename(final), suffix=".part")
        os.close(fd)
    except OSError as exc:
        raise ChecksumError("cannot write to %s: %s" % (dest_dir, exc.strerror or exc)) from exc
    try:
        download(url, tmp)
        if expected is not None and algorithm is not None:
            ensure_digest(url, algorithm, expected, file_digest(tmp, algorithm))
        umask = os.umask(0)
        os.umask(umask)
        try:
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, final)
        except OSError as exc:
            raise ChecksumError("cannot move download to %s: %s" % (final, exc.strerror or exc)) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return final, True
