# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release id validation."""

from __future__ import annotations

import pytest

from ansible_collections.lastmile.deploy.plugins.module_utils.release.version import (
    VERSION_MAX_LENGTH,
    VersionError,
    is_valid_version,
    validate_version,
)


@pytest.mark.parametrize("version", ["1", "1.4.2", "v2_0-rc.1+build.7", "A" * VERSION_MAX_LENGTH, "2026.01.02-abc123"])
def test_valid_ids_are_returned_unchanged(version):
    assert validate_version(version) == version
    assert is_valid_version(version)


@pytest.mark.parametrize(
    "version, rule",
    [
        ("", "not allowed"),
        (".", "not allowed"),
        ("..", "not allowed"),
        (".hidden", "starting with a letter or digit"),
        ("-rc1", "starting with a letter or digit"),
        ("1.0/../x", "invalid"),
        ("1 0", "invalid"),
        ("1.0\n", "invalid"),
        ("café", "invalid"),
        ("a" * (VERSION_MAX_LENGTH + 1), "129 characters long"),
    ],
)
def test_invalid_ids_name_the_value_and_the_rule(version, rule):
    with pytest.raises(VersionError) as err:
        validate_version(version)
    assert repr(version) in str(err.value)
    assert rule in str(err.value)
    assert not is_valid_version(version)


def test_non_string_is_refused_and_error_is_a_value_error():
    with pytest.raises(ValueError, match="release id 12 is a int"):
        validate_version(12)
