# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Properties of release ids: letters, digits, '.', '_', '-' and '+', starting with a letter or
digit, at most 128 characters (docs/variables.md). _version.py has no ordering helpers: release
order comes from the history recorded on each host, never from comparing ids."""

from __future__ import annotations

import posixpath
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.release.version import (
    VersionError,
    is_valid_version,
    kind_of,
    validate_version,
)

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])

# The documented rule, written out here rather than taken from the code under test.
MAX_LENGTH = 128
FIRST = string.ascii_letters + string.digits
ALPHABET = FIRST + "._-+"

valid_ids = st.builds(lambda first, rest: first + rest, st.sampled_from(FIRST),
                      st.text(ALPHABET, max_size=MAX_LENGTH - 1))
# Characters outside the alphabet: path separators, whitespace, controls, other letters and digits.
foreign = st.one_of(
    st.sampled_from(list("/\\ \t\n\r\x00:;*?~$'\"`|&<>()[]{}#%@!,=") + ["é", "ß", "١", "²", "\u00a0", "\u2028"]),
    st.characters(exclude_characters=ALPHABET, exclude_categories=("Cs",)),
)


def refused(value) -> str:
    with pytest.raises(VersionError) as error:
        validate_version(value)
    assert not is_valid_version(value)
    return str(error.value)


@PROPERTY_SETTINGS
@given(version=valid_ids)
def test_every_id_of_the_documented_alphabet_is_accepted_unchanged(version):
    assert validate_version(version) is version
    assert is_valid_version(version)


@PROPERTY_SETTINGS
@given(version=valid_ids)
def test_an_accepted_id_is_one_directory_under_releases(version):
    path = posixpath.join("/opt/app/releases", version)
    assert posixpath.normpath(path) == path
    assert posixpath.dirname(path) == "/opt/app/releases"
    assert posixpath.basename(path) == version


@PROPERTY_SETTINGS
@given(version=valid_ids, char=foreign, data=st.data())
def test_a_character_outside_the_alphabet_anywhere_is_refused_naming_the_id(version, char, data):
    position = data.draw(st.integers(0, len(version)))
    bad = version[:position] + char + version[position:]
    assert repr(bad) in refused(bad)


@PROPERTY_SETTINGS
@given(version=valid_ids, lead=st.sampled_from(list("._-+")))
def test_an_id_starting_with_punctuation_is_refused_naming_the_id(version, lead):
    bad = lead + version
    message = refused(bad)
    assert repr(bad) in message
    if len(bad) <= MAX_LENGTH:
        assert "starting with a letter or digit" in message


@PROPERTY_SETTINGS
@given(version=valid_ids, extra=st.text(ALPHABET, min_size=1, max_size=200))
def test_an_id_longer_than_the_limit_is_refused_naming_its_length(version, extra):
    bad = (version + extra).ljust(MAX_LENGTH + 1, "x")
    message = refused(bad)
    assert repr(bad) in message
    assert "is %d characters long: expected at most %d" % (len(bad), MAX_LENGTH) in message


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_empty_and_dot_ids_are_refused_naming_them(value):
    assert repr(value) in refused(value)


@PROPERTY_SETTINGS
@given(parts=st.lists(valid_ids, min_size=2, max_size=4), separator=st.sampled_from(["/", "/../", "\\", " "]))
def test_ids_joined_into_a_path_or_a_phrase_are_refused(parts, separator):
    bad = separator.join(parts)
    assert repr(bad) in refused(bad)


@PROPERTY_SETTINGS
@given(value=st.one_of(st.none(), st.integers(), st.floats(), st.booleans(), st.binary(max_size=8),
                       st.lists(valid_ids, max_size=2)))
def test_values_that_are_not_text_are_refused_naming_value_and_type(value):
    message = refused(value)
    assert "release id %r is a %s" % (value, kind_of(value)) in message
    assert kind_of(value) in ("boolean", "integer", "number", "list", "mapping", type(value).__name__)


@PROPERTY_SETTINGS
@given(value=st.one_of(st.text(max_size=140), valid_ids))
def test_is_valid_version_agrees_with_validate_version(value):
    try:
        validate_version(value)
    except VersionError:
        assert not is_valid_version(value)
    else:
        assert is_valid_version(value)
        assert value[:1] in FIRST and all(char in ALPHABET for char in value) and len(value) <= MAX_LENGTH
