# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/variables.yml is the one truth: the generated files, the roles' defaults and what the roles read agree with it."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Dict, Set

import pytest
import yaml

from fleet.playbook import REPO

from ansible_collections.lastmile.deploy.plugins.module_utils.run import spec

_LOADER = importlib.util.spec_from_file_location("lastmile_variables", Path(REPO) / ".ci" / "variables.py")
generator = importlib.util.module_from_spec(_LOADER)
_LOADER.loader.exec_module(generator)

SOURCE = generator.load()
OPTIONS = SOURCE["options"]
ROLES = Path(REPO) / "roles"
PLAYBOOKS = Path(REPO) / "playbooks"
NAME = re.compile(r"(?<![.\w])((?:deploy|lastmile)_[a-z0-9_]+)\b")  # not a module name such as lastmile.deploy.deploy_lock


def read_files(root: Path) -> Dict[str, str]:
    """{path: text} of the files a role runs (not its meta/ or README) or of a playbook."""
    if root.is_file():
        return {str(root): root.read_text()}
    return {str(path): path.read_text() for path in sorted(root.rglob("*.yml")) + sorted(root.rglob("*.j2"))
            if "meta" not in path.relative_to(root).parts}


def test_the_generated_files_are_what_the_source_generates():
    diffs = generator.stale(generator.outputs(SOURCE))
    assert not diffs, "run .ci/docs generate:\n" + "\n".join(diffs.values())


def test_a_source_breaking_its_rules_is_refused():
    broken = yaml.safe_load(yaml.safe_dump(SOURCE))
    broken["options"]["deploy_app"]["used_by"] = ["rollin"]
    broken["options"]["deploy_root"]["default_text"] = None
    with pytest.raises(generator.SourceError, match=r"deploy_app: rollin is not a role.*deploy_root: a default that is a template"):
        generator.check_source(broken)


def test_argument_specs_stay_small():
    """Each option once per role, on one line or two; internal entry points have none."""
    lines = sum(len(path.read_text().splitlines()) for path in ROLES.glob("*/meta/argument_specs.yml"))
    assert lines <= 931, lines
    for path in ROLES.glob("*/meta/argument_specs.yml"):
        assert list(yaml.safe_load(path.read_text())["argument_specs"]) == ["main"], path


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_option_is_read_where_the_source_says(name):
    """Each option appears in the files of a role or playbook its used_by names."""
    places = set()
    for user in spec.users(SOURCE, OPTIONS[name]):
        role = user.partition(":")[0]
        places.add(Path(REPO) / user if user.startswith(spec.PLAYBOOKS) else ROLES / role)
    assert any(re.search(r"\b%s\b" % name, text) for place in places for text in read_files(place).values()), \
        "%s: not read by any of %s" % (name, ", ".join(sorted(str(place.relative_to(REPO)) for place in places)))


def module_facts() -> Set[str]:
    """The facts the collection's modules set (``ansible_facts`` in their RETURN)."""
    names = set()
    for path in sorted((Path(REPO) / "plugins" / "modules").glob("*.py")):
        match = re.search(r'^RETURN = r"""(.*?)"""', path.read_text(), re.S | re.M)
        facts = (yaml.safe_load(match.group(1)) or {}).get("ansible_facts") if match else None
        names.update((facts or {}).get("contains") or {})
    return names


def assigned_names(texts: Dict[str, str]) -> Set[str]:
    """Variables the collection sets itself: keys of vars/set_fact/role vars, registered results, loop vars and the
    facts its modules set."""
    names = module_facts()
    for text in texts.values():
        names.update(re.findall(r"^\s*(?:-\s+)?((?:deploy|lastmile)_[a-z0-9_]+):", text, re.M))
        names.update(re.findall(r"\b(?:register|loop_var):\s*((?:deploy|lastmile)_[a-z0-9_]+)", text))
    return names


def test_every_variable_a_role_reads_from_the_user_is_declared():
    """A deploy_* or lastmile_* name the roles or playbooks read, and nothing in them sets, is in meta/variables.yml."""
    texts = {}
    for role in ROLES.iterdir():
        texts.update({path: text for path, text in read_files(role).items() if "/defaults/" not in path})
    for playbook in PLAYBOOKS.glob("*.yml"):
        texts.update(read_files(playbook))
    read = {name for text in texts.values() for name in NAME.findall(text)}
    undeclared = sorted(read - assigned_names(texts) - set(OPTIONS))
    assert not undeclared, "read but neither set by the collection nor declared in meta/variables.yml: %s" % undeclared


def test_the_roles_defaults_are_the_declared_ones():
    """What a role's defaults/main.yml says is what meta/variables.yml says, and every declared role default is in one."""
    found = {}
    for path in sorted(ROLES.glob("*/defaults/main.yml")):
        for name, value in (yaml.safe_load(path.read_text()) or {}).items():
            assert name in OPTIONS, "%s: %s is not declared in meta/variables.yml" % (path.relative_to(REPO), name)
            assert OPTIONS[name].get("default") == value, "%s: %s is %r, meta/variables.yml says %r" % (
                path.relative_to(REPO), name, value, OPTIONS[name].get("default"))
            found[name] = value
    missing = sorted(set(spec.role_defaults(SOURCE)) - set(found))
    assert not missing, "declared with a default no role's defaults/main.yml gives: %s" % missing


def test_the_page_shows_every_option_once_with_its_default():
    page = (Path(REPO) / "docs" / "variables.md").read_text()
    for name, option in OPTIONS.items():
        rows = [line for line in page.splitlines() if line.startswith("| `%s` |" % name)]
        assert len(rows) == 1, name
        if option.get("required") is True:
            assert "| required |" in rows[0], rows[0]
        elif "default" in option and not spec.is_template(option["default"]):
            assert "`%s`" % generator._flow(option["default"], 10 ** 6) in rows[0] or option["default"] == "", rows[0]
