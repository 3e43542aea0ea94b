# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release ids: the names of directories under ``releases/`` and of deployed versions."""

from __future__ import annotations

import re

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

VERSION_MAX_LENGTH = 128
VERSION_RULE = (
    "letters, digits, '.', '_', '-' and '+', starting with a letter or digit, "
    "at most %d characters" % VERSION_MAX_LENGTH
)

_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def kind_of(value: object) -> str:
    """What a value is, in words a message can show (also for Ansible's tagged copies of str, list, ...)."""
    for kind, words in ((bool, "boolean"), (str, "string"), (int, "integer"), (float, "number"), (list, "list"),
                        (dict, "mapping")):
        if isinstance(value, kind):
            return words
    return type(value).__name__


class VersionError(LastmileError, ValueError):
    """A release id breaks the naming rule."""


def validate_version(version: object) -> str:
    """Return ``version`` unchanged if it is a valid release id, else raise VersionError."""
    if not isinstance(version, str):
        raise VersionError(
            "release id %r is a %s: expected a string of %s"
            % (version, kind_of(version), VERSION_RULE)
        )
    if version in ("", ".", ".."):
        raise VersionError("release id %r is not allowed: expected %s" % (version, VERSION_RULE))
    if len(version) > VERSION_MAX_LENGTH:
        raise VersionError(
            "release id %r is %d characters long: expected at most %d"
            % (version, len(version), VERSION_MAX_LENGTH)
        )
    if _VERSION_RE.fullmatch(version) is None:
        raise VersionError("release id %r is invalid: expected %s" % (version, VERSION_RULE))
    return version


def is_valid_version(version: object) -> bool:
    """True when ``version`` is a valid release id."""
    try:
        validate_version(version)
    except VersionError:
        return False
    return True
