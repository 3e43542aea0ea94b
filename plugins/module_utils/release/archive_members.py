# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading release archives (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .zip): their format, their members
and the limits every member is checked against before anything is written for it.

No absolute paths, no ``..``, no devices, fifos or sparse files, names within the system's limits
and at most ``MAX_DEPTH`` directories deep. Tar headers are judged before tarfile reads what they
announce, so a header cannot make it hold more than ``MAX_EXTENDED_HEADERS`` bytes.
"""

from __future__ import annotations

import lzma
import os
import tarfile
import zipfile
import zlib
from typing import IO, Dict, Optional, Union

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

DEFAULT_MAX_SIZE = 4 * 1024 ** 3
DEFAULT_MAX_MEMBERS = 200000
CHUNK_SIZE = 1024 * 1024
# The system's limits: a path (a member's name, a link's target) must be shorter than PATH_MAX
# bytes, and each name in it at most NAME_MAX bytes.
PATH_MAX = 4096
NAME_MAX = 255
# Directories on a member's path: each one is made (and later judged and removed) for it.
MAX_DEPTH = 256
# Tar extended headers (pax, GNU long names) are read whole by tarfile: the bytes of those before
# one member, and of all global pax headers (kept until the end), are bounded before they are read.
MAX_EXTENDED_HEADERS = 1024 * 1024
MAX_EXTENDED_CHAIN = 16

_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
CORRUPT_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError)
_PAX_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_GNU_LONG_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)

Source = Union[str, IO[bytes]]


class ArchiveError(LastmileError):
    """An archive is unreadable, unsafe or too large to extract."""


def shown(text: str, limit: int = 100) -> str:
    """``repr(text)``, cut in the middle when longer than ``limit`` characters: names can be 4 KiB."""
    shown = repr(text)
    if len(shown) <= limit:
        return shown
    return "%s...%s (%d characters)" % (shown[:limit // 2], shown[-(limit // 4):], len(text))


def path_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be a path on this system (too long, a name too long), None if it can."""
    try:
        size = len(os.fsencode(path))
    except UnicodeEncodeError:
        return "is not a valid file name"
    if size >= PATH_MAX:
        return "is %d bytes long: expected less than %d bytes (PATH_MAX)" % (size, PATH_MAX)
    for part in path.split("/"):
        length = len(os.fsencode(part))
        if length > NAME_MAX:
            return "has a name of %d bytes, %s: expected at most %d bytes per name (NAME_MAX)" % (
                length, shown(part, 40), NAME_MAX)
    return None


# ---- tar headers judged before tarfile reads what they announce ------------------------------------

def _check_header(info: tarfile.TarInfo, seen: Dict[str, int]) -> None:
    """Refuse a header whose announced data tarfile would read whole into memory, past the bounds."""
    if info.size < 0:
        raise ArchiveError("archive member %s has a negative size (%d)" % (shown(info.name), info.size))
    if info.type == tarfile.GNUTYPE_SPARSE:
        raise sparse_refused(info.name)
    if info.type not in _PAX_TYPES + _GNU_LONG_TYPES:
        seen["chain"] = seen["chain_bytes"] = 0
        return
    seen["chain"] += 1
    seen["chain_bytes"] += info.size
    if seen["chain_bytes"] > MAX_EXTENDED_HEADERS:
        raise ArchiveError(
            "archive has %d bytes of extended headers (pax, GNU long names) before one member: expected "
            "at most %d; refusing it before reading them" % (seen["chain_bytes"], MAX_EXTENDED_HEADERS)
        )
    if info.type == tarfile.XGLTYPE:
        seen["global_bytes"] += info.size
        if seen["global_bytes"] > MAX_EXTENDED_HEADERS:
            raise ArchiveError(
                "archive has %d bytes of global pax headers: expected at most %d; refusing it before reading them"
                % (seen["global_bytes"], MAX_EXTENDED_HEADERS)
            )
    if seen["chain"] > MAX_EXTENDED_CHAIN:
        raise ArchiveError(
            "archive has more than %d extended headers (pax, GNU long names) in a row before a member"
            % MAX_EXTENDED_CHAIN
        )


def sparse_refused(name: str) -> ArchiveError:
    return ArchiveError(
        "archive member %s is a sparse file: expected files, directories and links (create the "
        "archive without --sparse)" % shown(name)
    )


def _checked_tarinfo() -> type:
    """A TarInfo class for one archive: every header is judged (``_check_header``) before tarfile reads
    the data it announces.

    ``frombuf`` and ``fromtarfile`` are public TarInfo API (Python 3.8 to 3.13 alike): tarfile reads
    every header block, the extended ones included, through them before any of its data. GNU sparse
    1.0 maps are read by the private ``_proc_gnusparse_10`` (present in 3.8 to 3.13); where a Python
    lacks it the override is unused and the member is still refused, once read, as sparse.
    """
    seen = {"chain": 0, "chain_bytes": 0, "global_bytes": 0}

    class CheckedTarInfo(tarfile.TarInfo):
        @classmethod
        def frombuf(cls, buf, encoding, errors):  # type: ignore[no-untyped-def]
            info = super().frombuf(buf, encoding, errors)
            _check_header(info, seen)
            return info

        def _proc_gnusparse_10(self, next, pax_headers, tarfile):  # type: ignore[no-untyped-def]  # pylint: disable=redefined-builtin,redefined-outer-name
            # would read a sparse map of any length from the data, before any budget applies;
            # the names are tarfile's own (this overrides its method)
            raise sparse_refused(pax_headers.get("GNU.sparse.name", next.name))

    return CheckedTarInfo


def open_tar(handle: IO[bytes]) -> tarfile.TarFile:
    return tarfile.open(fileobj=handle, mode="r:*", tarinfo=_checked_tarinfo())


def tar_members(archive: tarfile.TarFile):  # type: ignore[no-untyped-def]
    """The archive's members, one at a time: tarfile would keep every member read (with its pax headers)."""
    while True:
        member = archive.next()
        if member is None:
            return
        del archive.members[:]
        yield member


def _is_tar(handle: IO[bytes]) -> bool:
    try:
        with open_tar(handle):
            return True
    except ArchiveError:
        return True  # a tar, whose headers extraction will refuse
    except CORRUPT_ERRORS + (OSError,):
        return False
    finally:
        handle.seek(0)


def format_of(handle: IO[bytes], name: str) -> str:
    head = handle.read(512)
    handle.seek(0)
    if head.startswith((_GZIP_MAGIC, _BZIP2_MAGIC, _XZ_MAGIC)) or head[257:262] == b"ustar":
        return "tar"
    is_zip = head.startswith(_ZIP_MAGICS) or zipfile.is_zipfile(handle)
    handle.seek(0)
    if is_zip:
        return "zip"
    if _is_tar(handle):
        return "tar"
    raise ArchiveError(
        "%s is not a supported archive: expected a tar (optionally gzip, bzip2 or xz "
        "compressed) or zip file" % name
    )


def open_source(src: str) -> IO[bytes]:
    try:
        return open(src, "rb")
    except OSError as exc:
        raise ArchiveError("cannot read archive %s: %s" % (src, exc.strerror or exc)) from exc


def archive_format(src: Source, name: Optional[str] = None) -> str:
    """Return ``tar`` or ``zip`` from the content (magic bytes), not the name.

    ``src`` is a path or a seekable binary file (read from its start, left at its start);
    ``name`` is what messages call it.
    """
    if isinstance(src, str):
        with open_source(src) as handle:
            return format_of(handle, name or src)
    src.seek(0)
    return format_of(src, name or "the archive")


def member_path(name: str, strip_components: int = 0) -> Optional[str]:
    """Relative path a member is extracted to, None if stripping leaves nothing.

    Raises ArchiveError for absolute names, ``..`` components, names past the system's limits
    and paths more than ``MAX_DEPTH`` directories deep.
    """
    if name.startswith("/"):
        raise ArchiveError("archive member %s has an absolute path: expected a relative one" % shown(name))
    if "\0" in name:
        raise ArchiveError("archive member %s contains a NUL byte" % shown(name))
    problem = path_problem(name)
    if problem:
        raise ArchiveError("archive member %s %s" % (shown(name), problem))
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError("archive member %s contains '..': expected a path inside the archive" % shown(name))
    parts = parts[strip_components:]
    if len(parts) > MAX_DEPTH:
        raise ArchiveError(
            "archive member %s is %d levels deep: expected at most %d" % (shown(name), len(parts), MAX_DEPTH)
        )
    return "/".join(parts) if parts else None
