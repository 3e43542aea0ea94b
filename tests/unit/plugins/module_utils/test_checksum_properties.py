# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Properties of checksum specs and SHA256SUMS / SHA512SUMS parsing.

SUMS files come from two sources: a renderer for the layouts the parser documents (GNU text and
binary lines, BSD lines, './' and directory prefixes, comments, blank lines, CRLF), and the real
sha256sum / sha512sum / openssl run over files with generated names.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import string
import subprocess
import tempfile

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ansible_collections.lastmile.deploy.plugins.module_utils.release.checksum import (
    ChecksumError,
    format_checksum,
    parse_checksum,
    parse_sums_file,
    resolve_checksum,
)

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])
TOOL_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=40)

# Written out rather than imported, so a wrong table in the code under test shows.
HEX_DIGITS = {"sha256": 64, "sha512": 128}
HEX = "0123456789abcdef"

algorithms = st.sampled_from(sorted(HEX_DIGITS))
contents = st.binary(max_size=64)


def digest(algorithm: str, data: bytes) -> str:
    return hashlib.new(algorithm, data).hexdigest()


def mixed_case(draw, text: str) -> str:
    """`text` with any of its letters upper-cased."""
    flips = draw(st.integers(0, 2 ** len(text) - 1))
    return "".join(char.upper() if flips >> index & 1 else char for index, char in enumerate(text))


# --- checksum specs -------------------------------------------------------------------------------

@st.composite
def valid_specs(draw) -> tuple:
    """(spec as a user may write it, algorithm, lower-case hex)."""
    algorithm = draw(algorithms)
    hexdigest = digest(algorithm, draw(contents))
    space = st.sampled_from(["", " ", "\t", "\n", " \n"])
    spec = draw(space) + mixed_case(draw, algorithm) + ":" + mixed_case(draw, hexdigest) + draw(space)
    return spec, algorithm, hexdigest


@PROPERTY_SETTINGS
@given(case=valid_specs())
def test_any_valid_spec_round_trips(case):
    spec, algorithm, hexdigest = case
    assert parse_checksum(spec) == (algorithm, hexdigest)
    canonical = format_checksum(*parse_checksum(spec))
    assert canonical == "%s:%s" % (algorithm, hexdigest)
    assert parse_checksum(canonical) == (algorithm, hexdigest)


@PROPERTY_SETTINGS
@given(algorithm=algorithms, length=st.integers(1, 300), data=st.data())
def test_wrong_lengths_are_refused_naming_the_spec_and_the_length_needed(algorithm, length, data):
    assume(length != HEX_DIGITS[algorithm])
    spec = "%s:%s" % (algorithm, data.draw(st.text(HEX, min_size=length, max_size=length)))
    with pytest.raises(ChecksumError) as error:
        parse_checksum(spec)
    message = str(error.value)
    assert repr(spec) in message
    assert "has %d hex digits: %s needs %d" % (length, algorithm, HEX_DIGITS[algorithm]) in message


@PROPERTY_SETTINGS
@given(case=valid_specs(), junk=st.characters(exclude_characters=HEX + HEX.upper()), data=st.data())
def test_a_character_that_is_not_hex_is_refused_naming_the_spec(case, junk, data):
    spec, algorithm, hexdigest = case
    position = data.draw(st.integers(1, len(hexdigest) - 1))
    spec = "%s:%s%s%s" % (algorithm, hexdigest[:position], junk, hexdigest[position:])
    with pytest.raises(ChecksumError) as error:
        parse_checksum(spec)
    assert "unsupported checksum %r" % spec in str(error.value)


unknown_algorithms = st.one_of(
    st.sampled_from(["md5", "sha1", "sha224", "sha384", "sha3-256", "sha3_512", "blake2b", "SHA-256", "sha 256",
                     "sha256sum", ""]),
    st.text(string.ascii_letters + string.digits + "-_ ", max_size=10),
).filter(lambda name: name.strip().lower() not in HEX_DIGITS)


@PROPERTY_SETTINGS
@given(name=unknown_algorithms, data=contents, length=st.sampled_from(sorted(HEX_DIGITS.values())))
def test_unknown_algorithms_are_refused_naming_the_spec(name, data, length):
    spec = "%s:%s" % (name, hashlib.sha512(data).hexdigest()[:length])
    with pytest.raises(ChecksumError) as error:
        parse_checksum(spec)
    assert "unsupported checksum %r" % spec in str(error.value)


@PROPERTY_SETTINGS
@given(spec=st.one_of(st.none(), st.integers(), st.binary(max_size=8), st.lists(st.text(max_size=3), max_size=2)))
def test_specs_that_are_not_text_are_refused_naming_them(spec):
    with pytest.raises(ChecksumError) as error:
        parse_checksum(spec)
    assert "unsupported checksum %r" % (spec,) in str(error.value)


# --- SUMS files in the documented layouts -----------------------------------------------------------

# File names as release pipelines make them: no '/', no leading or trailing space.
NAME_CHARS = string.ascii_letters + string.digits + "._-+ ()=#*,@~"
file_names = st.text(NAME_CHARS, min_size=1, max_size=20).filter(lambda name: name == name.strip())


@st.composite
def sums_files(draw) -> tuple:
    """(SUMS text, {file name: hex listed}, algorithm)."""
    algorithm = draw(algorithms)
    names = draw(st.lists(file_names, min_size=1, max_size=6, unique=True))
    listed = {}
    lines = []
    for name in names:
        hexdigest = digest(algorithm, draw(contents))
        listed[name] = hexdigest
        path = draw(st.sampled_from(["", "./", "dist/", "./out/x86_64/"])) + name
        written = mixed_case(draw, hexdigest) if draw(st.booleans()) else hexdigest
        tag = algorithm.upper()
        style = draw(st.sampled_from(["text", "binary", "bsd", "openssl", "openssl3"]))
        event(style)
        lines.append({
            "text": "%s  %s" % (written, path),
            "binary": "%s *%s" % (written, path),
            "bsd": "%s (%s) = %s" % (tag, path, written),
            "openssl": "%s(%s)= %s" % (tag, path, written),
            "openssl3": "%s(%s)= %s" % (tag.replace("SHA", "SHA2-"), path, written),
        }[style])
        for _extra in range(draw(st.integers(0, 2))):
            lines.append(draw(st.sampled_from(["", "   ", "# " + draw(file_names), "#", "\t"])))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    event("CRLF" if newline == "\r\n" else "LF")
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    return text, listed, algorithm


@PROPERTY_SETTINGS
@given(sums=sums_files(), dot_slash=st.booleans())
def test_every_listed_file_is_found_with_its_digest(sums, dot_slash):
    text, listed, _algorithm = sums
    for name, hexdigest in listed.items():
        assert parse_sums_file(text, ("./" if dot_slash else "") + name) == hexdigest, name


@PROPERTY_SETTINGS
@given(sums=sums_files(), other=file_names)
def test_a_file_not_listed_is_refused_naming_it(sums, other):
    text, listed, _algorithm = sums
    assume(other not in listed)
    with pytest.raises(ChecksumError) as error:
        parse_sums_file(text, other)
    message = str(error.value)
    assert message.startswith("%s is not listed in the checksum file (it lists: " % other)
    assert all(name in message for name in listed)


@PROPERTY_SETTINGS
@given(sums=sums_files(), data=st.data())
def test_a_file_listed_twice_with_different_digests_is_refused_naming_both(sums, data):
    text, listed, algorithm = sums
    name = data.draw(st.sampled_from(sorted(listed)))
    other = digest(algorithm, data.draw(contents))
    assume(other != listed[name])
    with pytest.raises(ChecksumError) as error:
        parse_sums_file(text + "\n%s  %s\n" % (other, name), name)
    message = str(error.value)
    assert "%s is listed 2 times" % name in message
    assert listed[name] in message and other in message
    # the same entry twice is no conflict
    assert parse_sums_file(text + "\n%s  %s\n" % (listed[name], name), name) == listed[name]


@PROPERTY_SETTINGS
@given(sums=sums_files(), data=st.data(), where=st.sampled_from(["url", "file"]),
       file_name=st.sampled_from(["{ALGO}SUMS", "{algo}sums.txt", "checksums.txt", "CHECKSUMS"]))
def test_resolving_a_sums_file_picks_the_artifact_by_name(sums, data, where, file_name, tmp_path_factory):
    text, listed, algorithm = sums
    name = data.draw(st.sampled_from(sorted(listed)))
    file_name = file_name.format(ALGO=algorithm.upper(), algo=algorithm)
    if where == "url":
        url = "https://releases.example.com/app/1.2.3/" + file_name
        fetched = []

        def fetch_text(address):
            fetched.append(address)
            return text

        assert resolve_checksum(url, name, fetch_text) == (algorithm, listed[name])
        assert fetched == [url]
    else:
        path = os.path.join(str(tmp_path_factory.mktemp("sums")), file_name)
        with open(path, "w", newline="") as handle:
            handle.write(text)
        assert resolve_checksum(path, name, lambda address: pytest.fail("fetched %s" % address)) == (
            algorithm, listed[name])


# --- SUMS files written by the real tools ------------------------------------------------------------

TOOLS = {
    "sha256sum": (["sha256sum"], "sha256"),
    "sha256sum -b": (["sha256sum", "-b"], "sha256"),
    "sha256sum --tag": (["sha256sum", "--tag"], "sha256"),
    "sha512sum": (["sha512sum"], "sha512"),
    "sha512sum --tag": (["sha512sum", "--tag"], "sha512"),
    "openssl dgst -sha256": (["openssl", "dgst", "-sha256"], "sha256"),
    "openssl dgst -sha512 -r": (["openssl", "dgst", "-sha512", "-r"], "sha512"),
}
AVAILABLE = sorted(tool for tool, (command, _algorithm) in TOOLS.items() if shutil.which(command[0]))


def run_tool(tool: str, files: dict) -> str:
    """Write `files` ({name: content}) to a new directory and return `tool`'s output over them."""
    command, _algorithm = TOOLS[tool]
    with tempfile.TemporaryDirectory(prefix="sums-") as directory:
        for name, data in files.items():
            with open(os.path.join(directory, name), "wb") as handle:
                handle.write(data)
        if command[0] == "openssl":  # no '--' there: './' keeps a name such as '-x' from reading as an option
            arguments = ["./" + name for name in sorted(files)]
        else:
            arguments = ["--"] + sorted(files)
        completed = subprocess.run(command + arguments, cwd=directory, capture_output=True, check=True)
    return completed.stdout.decode("utf-8")


# Characters the tools write escaped on a line marked with a leading backslash (coreutils), and
# characters they write raw that str.splitlines() would break a line at.
ESCAPED_CHARACTERS = ["\\", "\n", "\r", "\\\\", "\\n"]
RAW_CHARACTERS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@st.composite
def tool_names(draw, escaping: bool) -> str:
    """A file name, sometimes holding characters that line-splitting or escaping could get wrong;
    with `escaping`, also '\\', a newline or a carriage return, which coreutils writes escaped."""
    # '-' is standard input to these tools, even after '--'
    name = draw(st.text(NAME_CHARS, min_size=1, max_size=16).filter(
        lambda name: name == name.strip() and name not in (".", "..", "-")))
    if draw(st.booleans()):
        position = draw(st.integers(0, len(name)))
        name = name[:position] + draw(st.sampled_from(RAW_CHARACTERS + (ESCAPED_CHARACTERS if escaping else []))) + name[position:]
        assume(name == name.strip())
    return name


@st.composite
def tool_runs(draw) -> tuple:
    tool = draw(st.sampled_from(AVAILABLE))
    # coreutils marks and escapes names on GNU and --tag lines; openssl writes names raw.
    escaping = TOOLS[tool][0][0].endswith("sum")
    files = draw(st.dictionaries(tool_names(escaping), contents, min_size=1, max_size=4))
    return tool, files


@pytest.mark.skipif(not AVAILABLE, reason="neither coreutils sha256sum nor openssl is installed")
@TOOL_SETTINGS
@given(run=tool_runs())
def test_sums_written_by_the_real_tools_are_read_back(run):
    tool, files = run
    algorithm = TOOLS[tool][1]
    output = run_tool(tool, files)
    event(tool)
    for name, data in files.items():
        event("escaped name" if "\\" in name or "\n" in name else "plain name")
        assert parse_sums_file(output, name) == digest(algorithm, data), (tool, name, output)


# Found by the property above while it drew any file name (openssl, '0\r0'): names the tools
# write escaped on a '\'-marked line ('\r', and every escaped name of a --tag line), and names
# holding characters str.splitlines() breaks lines at although the tools write them raw.
@pytest.mark.parametrize("tool, name", [
    ("sha256sum --tag", "app\\1.tar.gz"),
    ("sha256sum --tag", "app\n1.tar.gz"),
    ("sha256sum", "app\r1.tar.gz"),
    ("sha256sum", "app\x0c1.tar.gz"),
    ("sha256sum", "app\x1c1.tar.gz"),
    ("sha256sum", "app\u20281.tar.gz"),
])
def test_names_found_by_the_properties(tool, name):
    if tool not in AVAILABLE:
        pytest.skip("%s is not installed" % tool)
    output = run_tool(tool, {name: b"release"})
    assert parse_sums_file(output, name) == digest("sha256", b"release"), output
