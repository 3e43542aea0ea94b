# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The supported ansible-core range and host Python are stated the same everywhere users read them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[2]
RELEASES = ["2.%d.%d" % (minor, patch) for minor in range(14, 23) for patch in (0, 1, 14)]


def allowed(specifiers: SpecifierSet) -> list:
    return [release for release in RELEASES if release in specifiers]


def stated_range(text: str) -> SpecifierSet:
    low, high = re.search(r"ansible-core (2\.\d+) to (2\.\d+)", text).groups()
    major, minor = high.split(".")
    return SpecifierSet(">=%s.0,<%s.%d.0" % (low, major, int(minor) + 1))


def test_requires_ansible_requirements_and_docs_state_one_range():
    runtime = SpecifierSet(yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["requires_ansible"])
    required = next(line for line in (REPO / "requirements.txt").read_text().splitlines() if line.startswith("ansible-core"))
    assert allowed(runtime) and allowed(SpecifierSet(required[len("ansible-core"):])) == allowed(runtime)
    for doc in ("README.md", "docs/quickstart.md"):
        assert allowed(stated_range((REPO / doc).read_text())) == allowed(runtime), doc


def test_the_host_python_minimum_is_stated_where_hosts_are_described():
    for doc in ("README.md", "docs/quickstart.md"):
        assert "Python 3.8 or later" in (REPO / doc).read_text(), doc
