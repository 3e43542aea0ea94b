# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builds sample application releases as deterministic .tar.gz artifacts."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
from dataclasses import dataclass, field
from typing import Dict, Optional

from fleet.procs import FleetError

APP_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_app", "app.py")
MODES = ("good", "errors", "unhealthy", "nostart")
# errors_on: the addresses (comma separated) where mode errors fails requests, every host when not given
OPTION_TYPES = {"error_rate": float, "start_delay": float, "response_delay": float, "health_delay": float,
                "errors_on": str}
FIXED_MTIME = 1767225600  # 2026-01-01T00:00:00Z: same inputs, same bytes, same checksum
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
SUMS_FILE = "SHA256SUMS"


@dataclass(frozen=True)
class Artifact:
    """A built release archive."""

    path: str
    sha256: str
    version: str
    mode: str = "good"
    options: Dict[str, float] = field(default_factory=dict)
    checksum: str = field(init=False)  # "sha256:<hex>", the form deploy_checksum takes

    def __post_init__(self) -> None:
        object.__setattr__(self, "checksum", "sha256:" + self.sha256)

    @property
    def filename(self) -> str:
        return os.path.basename(self.path)


def release_manifest(version: str, mode: str = "good", **options: float) -> dict:
    """The release.json content for a build; rejects unknown modes and options."""
    if not VERSION_RE.match(version) or version in (".", ".."):
        raise FleetError("version %r: expected letters, digits, '.', '_', '-', '+' (max 128)" % version)
    if mode not in MODES:
        raise FleetError("mode %r: expected one of %s" % (mode, ", ".join(MODES)))
    unknown = sorted(set(options) - set(OPTION_TYPES))
    if unknown:
        raise FleetError("unknown release option(s) %s: expected %s" % (", ".join(unknown), ", ".join(OPTION_TYPES)))
    manifest = {"version": version, "mode": mode}
    for name, value in sorted(options.items()):
        manifest[name] = OPTION_TYPES[name](value)
    return manifest


def _static_files(version: str, mode: str) -> Dict[str, bytes]:
    page = "<!doctype html>\n<title>sample %s</title>\n<h1>sample %s (%s)</h1>\n" % (version, version, mode)
    return {
        "static/index.html": page.encode("utf-8"),
        "static/robots.txt": b"User-agent: *\nDisallow: /\n",
    }


def _tar_bytes(files: Dict[str, bytes], dirs: tuple) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        entries = [(d, None) for d in dirs] + list(files.items())
        for name, data in sorted(entries, key=lambda e: e[0]):
            info = tarfile.TarInfo(name)
            info.mtime = FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    # filename="" and a fixed mtime keep the gzip header identical between builds
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=FIXED_MTIME, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def _write_atomic(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def update_sums(outdir: str, filename: str, sha256: str) -> str:
    """Add or replace ``filename`` in ``<outdir>/SHA256SUMS`` (sorted lines); return the file path."""
    path = os.path.join(outdir, SUMS_FILE)
    sums = read_sums(path)
    sums[filename] = sha256
    text = "".join("%s  %s\n" % (digest, name) for name, digest in sorted(sums.items()))
    _write_atomic(path, text.encode("utf-8"))
    return path


def read_sums(path: str) -> Dict[str, str]:
    """Parse a SHA256SUMS file into {filename: hex digest}; missing file -> {}."""
    sums = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    sums[parts[1].lstrip("*")] = parts[0]
    except FileNotFoundError:
        pass
    return sums


def build_release(outdir: str, version: str, mode: str = "good", **options: float) -> Artifact:
    """Build ``<outdir>/sample-<version>.tar.gz`` (app.py, release.json, static/) and record it in SHA256SUMS.

    options: error_rate, start_delay, response_delay, health_delay, errors_on (see sample_app/app.py).
    """
    manifest = release_manifest(version, mode, **options)
    with open(APP_SOURCE, "rb") as f:
        files = {"app.py": f.read()}
    files["release.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    files.update(_static_files(version, mode))
    data = _tar_bytes(files, dirs=("static",))
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(os.path.abspath(outdir), "sample-%s.tar.gz" % version)
    _write_atomic(path, data)
    digest = hashlib.sha256(data).hexdigest()
    update_sums(outdir, os.path.basename(path), digest)
    return Artifact(path=path, sha256=digest, version=version, mode=mode,
                    options={k: v for k, v in manifest.items() if k in OPTION_TYPES})


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def find_artifact(outdir: str, version: str) -> Optional[Artifact]:
    """An artifact built earlier in ``outdir`` for ``version``, read back from disk, or None."""
    path = os.path.join(os.path.abspath(outdir), "sample-%s.tar.gz" % version)
    if not os.path.exists(path):
        return None
    with tarfile.open(path) as tar:
        member = tar.extractfile("release.json")
        manifest = json.load(member) if member else {}
    return Artifact(path=path, sha256=sha256_file(path), version=version, mode=manifest.get("mode", "good"),
                    options={k: v for k, v in manifest.items() if k in OPTION_TYPES})
