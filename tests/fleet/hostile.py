# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile release archives for tests of safe unpacking.

Each kind is a valid archive whose one bad member tries to leave the release directory, to
create a special file, or to expand far beyond its size. ``outside_abs`` and ``outside_rel``
name the same directory outside the release, absolutely and relative to a release directory
(``releases/<version>``); escaping members aim there, so a test can check nothing arrived.
"""
from __future__ import annotations

import gzip
import io
import os
import random
import stat
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

from fleet.artifacts import FIXED_MTIME, Artifact, sha256_file, update_sums

BOMB_CHUNK = 64 * 1024 * 1024  # zeros per compressed piece of a bomb: ~64 KiB each once deflated
_DOS_DATE = ((2026 - 1980) << 9) | (1 << 5) | 1
_BENIGN = ("README.txt", b"a release that must never be unpacked\n")


@dataclass(frozen=True)
class Hostile:
    """A hostile artifact: the member the extractor must refuse, and paths that must never appear."""

    kind: str
    artifact: Artifact
    member: str
    escapes: Tuple[str, ...]


# ---- tar -------------------------------------------------------------------------------------

def _tar_info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 0,
              mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = size
    info.mode = mode
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_tar_gz(path: str, members: List[Tuple[tarfile.TarInfo, bytes]]) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in [(_tar_info(_BENIGN[0], size=len(_BENIGN[1])), _BENIGN[1])] + members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    with open(path, "wb") as out:
        out.write(gzip.compress(raw.getvalue(), 6, mtime=FIXED_MTIME))


def _tar_bomb(path: str, name: str, size: int) -> None:
    """One honest member of ``size`` zero bytes, written as concatenated gzip members (which
    gunzip and Python's gzip read as one stream), so building it compresses one chunk only."""
    chunks, rest = divmod(size, BOMB_CHUNK)
    piece = gzip.compress(bytes(BOMB_CHUNK), 9, mtime=FIXED_MTIME)
    header = _tar_info(name, size=size).tobuf(tarfile.GNU_FORMAT)
    tail = bytes(rest) + bytes(-size % tarfile.BLOCKSIZE) + bytes(2 * tarfile.BLOCKSIZE)
    with open(path, "wb") as out:
        out.write(gzip.compress(header, 9, mtime=FIXED_MTIME))
        for _chunk in range(chunks):
            out.write(piece)
        out.write(gzip.compress(tail, 9, mtime=FIXED_MTIME))


def _alias_escape(outside_rel: str) -> Tuple[List[Tuple[tarfile.TarInfo, bytes]], str]:
    """Members whose link ``real/x/s`` leads to the parent of ``outside_rel`` only once all are in place,
    and the member that makes it: made through the alias ``L -> real`` while the link ``b`` in its
    target leads deeper, a 0777 directory ``real/x/s/<outside>/locked`` put through it, then ``b``
    and ``L`` re-pointed so ``s`` climbs out and ``L/x/s`` no longer names it."""
    parts = outside_rel.rstrip("/").split("/")
    ups = parts.index(next(part for part in parts if part != ".."))
    depth = max(1, ups - 2)
    xdir = "/".join(["real"] + ["x"] * depth)
    link_dir = "/".join(["L"] + ["x"] * depth)
    members = [
        (_tar_info("real", tarfile.DIRTYPE, mode=0o755), b""),
        (_tar_info(xdir + "/y", tarfile.DIRTYPE, mode=0o755), b""),
        (_tar_info("L", tarfile.SYMTYPE, "real", mode=0o777), b""),
        (_tar_info(xdir + "/b", tarfile.SYMTYPE, "y", mode=0o777), b""),
        (_tar_info(link_dir + "/s", tarfile.SYMTYPE, "/".join(["b"] + [".."] * ups), mode=0o777), b""),
        (_tar_info("/".join([xdir, "s"] + parts[ups:] + ["locked"]), tarfile.DIRTYPE, mode=0o777), b""),
        (_tar_info(xdir + "/b", tarfile.SYMTYPE, "/".join([".."] * (depth + 1)), mode=0o777), b""),
        (_tar_info("L", tarfile.SYMTYPE, xdir, mode=0o777), b""),
    ]
    return members, link_dir + "/s"


# ---- zip -------------------------------------------------------------------------------------

def _zip_info(name: str, file_type: int, mode: int = 0o644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.create_system = 3  # unix: external_attr carries st_mode
    info.external_attr = (file_type | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _write_zip(path: str, members: List[Tuple[zipfile.ZipInfo, bytes]]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in [(_zip_info(_BENIGN[0], stat.S_IFREG), _BENIGN[1])] + members:
            archive.writestr(info, data)


def crc32_of_zeros(count: int) -> int:
    """``zlib.crc32(bytes(count))`` without the bytes: over zeros the CRC register changes linearly, so
    the operator for ``count`` zero bytes is the one for a single zero byte raised to ``count``."""
    mask = 0xFFFFFFFF

    def apply(operator: List[int], vector: int) -> int:  # operator: the images of the 32 unit vectors
        image = 0
        for column in operator:
            if vector & 1:
                image ^= column
            vector >>= 1
        return image

    operator = [zlib.crc32(b"\0", (1 << bit) ^ mask) ^ mask for bit in range(32)]
    register = mask
    while count:
        if count & 1:
            register = apply(operator, register)
        operator = [apply(operator, column) for column in operator]
        count >>= 1
    return register ^ mask


def _zip_bomb(path: str, name: str, size: int) -> None:
    """One honest zip64 member of ``size`` zero bytes; the deflate stream is one fully flushed
    piece repeated (a full flush resets the compressor, so every piece is the same bytes)."""
    chunks, rest = divmod(size, BOMB_CHUNK)
    zeros = bytes(BOMB_CHUNK)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    last = deflate.compress(bytes(rest)) + deflate.flush(zlib.Z_FINISH)
    crc = crc32_of_zeros(size)
    csize = len(piece) * chunks + len(last)
    encoded = name.encode("utf-8")
    zip64 = struct.pack("<HHQQ", 1, 16, size, csize)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, zipfile.ZIP_DEFLATED, 0, _DOS_DATE, crc,
                        0xFFFFFFFF, 0xFFFFFFFF, len(encoded), len(zip64))
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | 45, 45, 0, zipfile.ZIP_DEFLATED, 0,
                          _DOS_DATE, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(encoded), len(zip64), 0, 0, 0,
                          (stat.S_IFREG | 0o644) << 16, 0)
    with open(path, "wb") as out:
        out.write(local + encoded + zip64)
        for _chunk in range(chunks):
            out.write(piece)
        out.write(last)
        offset = out.tell()
        directory = central + encoded + zip64
        out.write(directory)
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), offset, 0))


# ---- the kinds -------------------------------------------------------------------------------

_Kind = Tuple[str, Callable[[str], None], str, Tuple[str, ...]]


def _kinds(outside_abs: str, outside_rel: str, bomb_size: int) -> Dict[str, _Kind]:
    """{kind: (suffix, build(path), refused member, escape paths)}."""
    rel = outside_rel.rstrip("/")
    pwned = os.path.join(outside_abs, "pwned")
    secret = os.path.join(outside_abs, "secret.txt")
    alias_members, alias_member = _alias_escape(outside_rel)
    return {
        "tar-dotdot": (".tar.gz", lambda p: _write_tar_gz(p, [(_tar_info(rel + "/pwned", size=3), b"bad")]),
                       rel + "/pwned", (pwned,)),
        "tar-absolute": (".tar.gz", lambda p: _write_tar_gz(p, [(_tar_info(pwned, size=3), b"bad")]),
                         pwned, (pwned,)),
        # a link first, then a member written through it: both must stay out of outside_abs
        "tar-symlink-absolute": (".tar.gz", lambda p: _write_tar_gz(p, [
            (_tar_info("escape", tarfile.SYMTYPE, outside_abs, mode=0o777), b""),
            (_tar_info("escape/pwned", size=3), b"bad")]), "escape", (pwned,)),
        "tar-symlink-relative": (".tar.gz", lambda p: _write_tar_gz(p, [
            (_tar_info("escape", tarfile.SYMTYPE, rel, mode=0o777), b""),
            (_tar_info("escape/pwned", size=3), b"bad")]), "escape", (pwned,)),
        # a link that leads out only once links made later are re-pointed, and a 0777 directory through it
        "tar-link-alias": (".tar.gz", lambda p: _write_tar_gz(p, alias_members), alias_member, ()),
        "tar-hardlink-outside": (".tar.gz", lambda p: _write_tar_gz(p, [
            (_tar_info("secret-link", tarfile.LNKTYPE, secret), b"")]), "secret-link", ()),
        "tar-chardev": (".tar.gz", lambda p: _write_tar_gz(p, [
            (_tar_info("null", tarfile.CHRTYPE, mode=0o666), b"")]), "null", ()),
        "tar-fifo": (".tar.gz", lambda p: _write_tar_gz(p, [
            (_tar_info("pipe", tarfile.FIFOTYPE), b"")]), "pipe", ()),
        "tar-bomb": (".tar.gz", lambda p: _tar_bomb(p, "bomb.bin", bomb_size), "bomb.bin", ()),
        "zip-dotdot": (".zip", lambda p: _write_zip(p, [(_zip_info(rel + "/pwned", stat.S_IFREG), b"bad")]),
                       rel + "/pwned", (pwned,)),
        "zip-absolute": (".zip", lambda p: _write_zip(p, [(_zip_info(pwned, stat.S_IFREG), b"bad")]),
                         pwned, (pwned,)),
        "zip-symlink-relative": (".zip", lambda p: _write_zip(p, [
            (_zip_info("escape", stat.S_IFLNK, 0o777), rel.encode()),
            (_zip_info("escape/pwned", stat.S_IFREG), b"bad")]), "escape", (pwned,)),
        "zip-fifo": (".zip", lambda p: _write_zip(p, [(_zip_info("pipe", stat.S_IFIFO), b"")]), "pipe", ()),
        "zip-bomb": (".zip", lambda p: _zip_bomb(p, "bomb.bin", bomb_size), "bomb.bin", ()),
    }


KINDS = tuple(_kinds("/x", "../x", 1))


def plant_sentinel(directory: str) -> str:
    """Create ``directory`` with secret.txt and a 0700 directory locked/: the places hostile members aim at."""
    os.makedirs(os.path.join(directory, "locked"), exist_ok=True)
    os.chmod(os.path.join(directory, "locked"), 0o700)
    with open(os.path.join(directory, "secret.txt"), "w", encoding="utf-8") as handle:
        handle.write("must stay untouched\n")
    return directory


def snapshot(directory: str) -> Dict[str, tuple]:
    """{relative path: (st_mode, st_nlink, size, mtime_ns, content)} of everything under ``directory``."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as handle:
                    content = handle.read()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path).encode()
            else:
                content = b""
            found[os.path.relpath(path, directory)] = (st.st_mode, st.st_nlink, st.st_size, st.st_mtime_ns, content)
    return found


def build_hostile(outdir: str, kind: str, outside_abs: str, outside_rel: str, bomb_size: int = 0) -> Hostile:
    """Build ``<outdir>/<kind>.tar.gz`` (or .zip), recorded in SHA256SUMS like the sample releases.

    ``bomb_size``: uncompressed bytes of the bomb kinds (make it larger than the extractor's limit).
    """
    kinds = _kinds(outside_abs, outside_rel, bomb_size)
    if kind not in kinds:
        raise ValueError("hostile kind %r: expected one of %s" % (kind, ", ".join(kinds)))
    if kind.endswith("-bomb") and bomb_size < 1:
        raise ValueError("hostile kind %s needs bomb_size: expected a size in bytes" % kind)
    suffix, build, member, escapes = kinds[kind]
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(os.path.abspath(outdir), kind + suffix)
    build(path)
    digest = sha256_file(path)
    update_sums(outdir, os.path.basename(path), digest)
    return Hostile(kind, Artifact(path=path, sha256=digest, version=kind), member, escapes)


def build_padded(outdir: str, base: Artifact, version: str, padding: int, incompressible: bool = False) -> Artifact:
    """A copy of the sample release ``base`` plus ``padding.bin`` of ``padding`` bytes: zeros, so that an
    artifact of a few KiB needs ``padding`` bytes of disk once unpacked, or (``incompressible``) seeded
    random bytes, so that the artifact itself is that large."""
    data = random.Random(version).randbytes(padding) if incompressible else bytes(padding)
    raw = io.BytesIO()
    with tarfile.open(base.path) as source, tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info in source:
            tar.addfile(info, source.extractfile(info) if info.isreg() else None)
        tar.addfile(_tar_info("padding.bin", size=padding), io.BytesIO(data))
    path = os.path.join(os.path.abspath(outdir), "sample-%s.tar.gz" % version)
    with open(path, "wb") as out:
        out.write(gzip.compress(raw.getvalue(), 9, mtime=FIXED_MTIME))
    digest = sha256_file(path)
    update_sums(outdir, os.path.basename(path), digest)
    return Artifact(path=path, sha256=digest, version=version, mode=base.mode, options=dict(base.options))
