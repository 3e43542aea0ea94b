# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write every role's meta/argument_specs.yml and docs/variables.md from meta/variables.yml.

    python .ci/variables.py generate   write them
    python .ci/variables.py check      fail, showing the difference, when they are not what generate writes

Run by .ci/docs generate and .ci/docs check.
"""
from __future__ import annotations

import difflib
import json
import os
import re
import sys
from typing import Any, Dict, List, Mapping

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

# pylint: disable-next=wrong-import-position
from ansible_collections.lastmile.deploy.plugins.module_utils.run import spec  # noqa: E402

SOURCE = os.path.join(REPO, *spec.SOURCE_PATH)
DOCS_PAGE = os.path.join("docs", "variables.md")
LINE_LENGTH = 160
HEADER = "# Generated from meta/variables.yml by .ci/docs generate: edit that file, not this one.\n"
MARKUP = re.compile(r"\b[COVM]\(((?:\\.|[^()\\]|\([^()]*\))*)\)")
TYPES = ("str", "int", "float", "bool", "list", "dict", "path", "raw")
OPTION_KEYS = {"topic", "type", "elements", "default", "default_text", "choices", "required", "no_log", "description",
               "details", "version_added", "used_by", "deprecated"}
PAGE_INTRO = """\
The contract users type, generated from [meta/variables.yml](../meta/variables.yml), the one place
each variable is declared. Before the deployment lock, `lastmile.deploy.deploy`, `rollback` and
`precheck` work out every variable of the run as the roles will see it (role defaults included) and
check its type, its choices and its form, so a wrong type, a value outside its choices or a missing
required variable stops the play with a message naming it, before anything changes. Each role
documents the options of its main entry point in the generated [role reference](reference/index.rst).
"""


class SourceError(Exception):
    """meta/variables.yml breaks a rule of its own header."""


def load(path: str = SOURCE) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def check_source(source: Mapping[str, Any]) -> None:
    """Refuse a source whose options the generated files could not show faithfully."""
    roles = source.get("roles") or {}
    topics = source.get("topics") or {}
    problems = []
    for name, option in (source.get("options") or {}).items():
        unknown = set(option) - OPTION_KEYS
        if unknown:
            problems.append("%s: unknown keys %s" % (name, ", ".join(sorted(unknown))))
        if option.get("topic") not in topics:
            problems.append("%s: topic %r is not one of topics" % (name, option.get("topic")))
        if option.get("type", "str") not in TYPES:
            problems.append("%s: type %r" % (name, option.get("type")))
        description = option.get("description")
        if not isinstance(description, str) or "\n" in description.strip() or not description.strip():
            problems.append("%s: description must be one line" % name)
        users = spec.users(source, option)
        if not users:
            problems.append("%s: used_by names nothing" % name)
        for user in users + (option["required"] if isinstance(option.get("required"), list) else []):
            if not user.startswith(spec.PLAYBOOKS) and user.partition(":")[0] not in roles:
                problems.append("%s: %s is not a role, a role:entry, a group or playbooks/<name>.yml" % (name, user))
            if user.startswith(spec.PLAYBOOKS) and not os.path.exists(os.path.join(REPO, user)):
                problems.append("%s: %s does not exist" % (name, user))
        if not isinstance(option.get("required", False), (bool, list)):
            problems.append("%s: required must be true or a list of entry points" % name)
        if spec.is_template(option.get("default")) and not option.get("default_text"):
            problems.append("%s: a default that is a template needs default_text" % name)
        deprecated = option.get("deprecated")
        if deprecated is not None and (not isinstance(deprecated, dict) or set(deprecated) != {"alternative", "removed_in"}
                                       or deprecated["alternative"] not in source["options"] or "default" in option):
            problems.append("%s: deprecated must be {alternative: <a variable>, removed_in: <version>}, without a default"
                            % name)
    if problems:
        raise SourceError("meta/variables.yml: " + "; ".join(problems))


class _IndentedDumper(yaml.SafeDumper):
    """Lists indented under their key, as ansible-lint's yamllint settings want them."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _flow(value: Any, width: int) -> str:
    """A value in YAML flow style, without the document end marker a lone scalar gets."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=width, allow_unicode=True)
    return re.sub(r"\n\.\.\.\n$", "\n", text).rstrip("\n")


def _option_line(name: str, option: Dict[str, Any]) -> str:
    """One option as a flow mapping, its description a double-quoted string last, wrapped between words
    (a line break in it reads as a space) when the line would pass LINE_LENGTH."""
    head = _flow({key: value for key, value in option.items() if key != "description"}, 10 ** 6)[:-1]
    words = json.dumps(option["description"], ensure_ascii=False).split(" ")
    lines = ["      %s: %s, description: %s" % (name, head, words[0])]
    for word in words[1:] + ["}"]:
        joined = lines[-1] + ("" if word == "}" else " ") + word
        if len(joined) <= LINE_LENGTH or word == "}" and len(lines[-1]) < LINE_LENGTH:
            lines[-1] = joined
        else:
            lines.append("        " + word)
    return "\n".join(lines)


def render_argument_spec(source: Mapping[str, Any], role: str) -> str:
    """roles/<role>/meta/argument_specs.yml: the main entry point only, one line per option."""
    main = spec.role_argument_spec(source, role)["argument_specs"]["main"]
    head = {key: value for key, value in main.items() if key != "options"}
    text = yaml.dump({"argument_specs": {"main": head}}, Dumper=_IndentedDumper, sort_keys=False, width=118,
                     allow_unicode=True)
    lines = text.splitlines()
    lines.append("    options:")
    lines.extend(_option_line(name, option) for name, option in main["options"].items())
    rendered = "---\n" + HEADER + "\n".join(lines) + "\n"
    if yaml.safe_load(rendered) != {"argument_specs": {"main": main}}:
        raise SourceError("roles/%s/meta/argument_specs.yml would not read back as generated" % role)
    return rendered


def markdown(text: str) -> str:
    """ansible-doc markup as Markdown: C(x), O(x), V(x) and M(x) in backticks."""
    return MARKUP.sub(lambda match: "`%s`" % re.sub(r"\\(.)", r"\1", match.group(1)), text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (the rule .ci/docs links checks against)."""
    heading = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|")


def _type(option: Mapping[str, Any]) -> str:
    kind = option.get("type", "str")
    return "%s of %s" % (kind, option["elements"]) if "elements" in option else kind


def _default(option: Mapping[str, Any]) -> str:
    required = option.get("required")
    if required is True:
        return "required"
    if option.get("default_text"):
        shown = markdown(option["default_text"])
    elif "default" in option:
        shown = "`%s`" % (_flow(option["default"], 10 ** 6) if option["default"] != "" else '""')
    else:
        shown = ""
    if isinstance(required, list):
        shown = "%s%srequired by %s" % (shown, "; " if shown else "", ", ".join("`%s`" % entry for entry in required))
    return shown or "not set"


def _meaning(option: Mapping[str, Any]) -> str:
    text = option.get("details") or markdown(option["description"])
    text = text.strip()
    if option.get("choices") and not all("`%s`" % choice in text for choice in option["choices"]):
        text = "%s%s one of %s" % (text.rstrip("."), ";" if "details" in option else ":",
                                   ", ".join("`%s`" % choice for choice in option["choices"]))
    if option.get("version_added"):
        text = "%s (added in %s)" % (text.rstrip("."), option["version_added"])
    return text if text.endswith((".", "?")) else text + "."


def render_page(source: Mapping[str, Any]) -> str:
    """docs/variables.md: one section per topic, a table of its variables, its prose and example."""
    topics = source["topics"]
    by_topic: Dict[str, List[str]] = {key: [] for key in topics}
    for name, option in source["options"].items():
        by_topic[option["topic"]].append(name)
    out = ["<!-- Generated from meta/variables.yml by .ci/docs generate: edit that file, not this page. -->",
           "# Variables and inventory", "", PAGE_INTRO.rstrip("\n"), ""]
    out += ["- [%s](#%s)" % (topic["title"], slug(topic["title"])) for key, topic in topics.items() if by_topic[key]]
    for key, topic in topics.items():
        if not by_topic[key]:
            continue
        out += ["", "## " + topic["title"], ""]
        if topic.get("text"):
            out += [topic["text"].rstrip("\n"), ""]
        out += ["| variable | type | default | meaning |", "|---|---|---|---|"]
        for name in by_topic[key]:
            option = source["options"][name]
            out.append("| `%s` | %s | %s | %s |" % (name, _type(option), _cell(_default(option)), _cell(_meaning(option))))
        if topic.get("after"):
            out += ["", topic["after"].rstrip("\n")]
        if topic.get("example"):
            language = "shell" if topic["example"].lstrip().startswith("ansible-playbook") else "yaml"
            out += ["", "For example:", "", "```" + language, topic["example"].rstrip("\n"), "```"]
    return "\n".join(out) + "\n"


def outputs(source: Mapping[str, Any]) -> Dict[str, str]:
    """{path relative to the repository: text} of every generated file."""
    check_source(source)
    files = {os.path.join("roles", role, "meta", "argument_specs.yml"): render_argument_spec(source, role)
             for role in spec.documented_roles(source)}
    files[DOCS_PAGE] = render_page(source)
    return files


def stale(files: Mapping[str, str]) -> Dict[str, str]:
    """{path: unified diff} of the generated files that differ from the committed ones."""
    diffs = {}
    for path, text in files.items():
        full = os.path.join(REPO, path)
        current = ""
        if os.path.exists(full):
            with open(full, encoding="utf-8") as handle:
                current = handle.read()
        if current != text:
            diffs[path] = "".join(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                       "a/" + path, "b/" + path))
    return diffs


def main(argv: List[str]) -> int:
    if argv not in (["generate"], ["check"]):
        sys.stderr.write(__doc__)
        return 2
    try:
        files = outputs(load())
    except (SourceError, spec.SpecError) as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    if argv == ["generate"]:
        for path, text in files.items():
            with open(os.path.join(REPO, path), "w", encoding="utf-8") as handle:
                handle.write(text)
        print("wrote %d files from meta/variables.yml" % len(files))
        return 0
    diffs = stale(files)
    for diff in diffs.values():
        sys.stderr.write(diff)
    if diffs:
        sys.stderr.write("%s differ from meta/variables.yml: run '.ci/docs generate' and commit them\n" % ", ".join(sorted(diffs)))
        return 1
    print("%d files are what meta/variables.yml generates" % len(files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
