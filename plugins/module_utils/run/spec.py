# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one declaration of its variables, meta/variables.yml, read as argument specs.

Each option names where it is used (``used_by``): roles (their ``main`` entry point), ``role:entry``
for one entry point only, groups of roles, or playbooks. An entry point takes the options that name
its role or itself; ``required`` is ``true`` (wherever used) or the entry points that need it.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError

SOURCE_PATH = ("meta", "variables.yml")
PLAYBOOKS = "playbooks/"
# the argument spec keys an option of the source carries over as they are
_SPEC_KEYS = ("type", "elements", "choices", "no_log")
_OPTION_REFERENCE = re.compile(r"O\(([a-z0-9_]+)((?:=[^)]*)?)\)")


class SpecError(LastmileError):
    """meta/variables.yml does not hold what this module reads."""


def roles(source: Mapping[str, Any]) -> List[str]:
    """The roles of the collection, in order."""
    return sorted(source.get("roles") or {})


def playbooks(source: Mapping[str, Any]) -> List[str]:
    """The playbooks that read variables of the source themselves (``playbooks/<name>.yml`` in a used_by), in order."""
    return sorted({user for option in (source.get("options") or {}).values()
                   for user in option.get("used_by") or [] if user.startswith(PLAYBOOKS)})


def documented_roles(source: Mapping[str, Any]) -> List[str]:
    """The roles a user or ansible-doc meets, in order: internal roles get no argument spec."""
    return [name for name in roles(source) if not (source["roles"][name] or {}).get("internal")]


def users(source: Mapping[str, Any], option: Mapping[str, Any]) -> List[str]:
    """Where an option is used, with groups replaced by their roles."""
    groups = source.get("groups") or {}
    found: List[str] = []
    for name in option.get("used_by") or []:
        for user in groups.get(name, [name]):
            if user not in found:
                found.append(user)
    return found


def is_template(value: Any) -> bool:
    """Whether a default is a Jinja template, worked out per host, rather than a literal."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def role_defaults(source: Mapping[str, Any]) -> Dict[str, Any]:
    """{option: default} of the options some role reads: what a role sees when the play sets nothing."""
    return {name: option["default"] for name, option in (source.get("options") or {}).items()
            if "default" in option and any(not user.startswith(PLAYBOOKS) for user in users(source, option))}


def _required(option: Mapping[str, Any], entry: str) -> bool:
    required = option.get("required", False)
    return required is True or (isinstance(required, list) and entry in required)


def entry_options(source: Mapping[str, Any], entry: str) -> Dict[str, Dict[str, Any]]:
    """The argument spec options ``entry`` (``role`` for its main, ``role:entry``, or ``playbooks/<name>.yml`` for the
    variables a playbook reads itself) takes, without defaults."""
    role = entry.partition(":")[0]
    if entry.startswith(PLAYBOOKS):
        if entry not in playbooks(source):
            raise SpecError("%s: no variable of meta/variables.yml is used by it" % entry)
    elif role not in (source.get("roles") or {}):
        raise SpecError("%s: no such role in meta/variables.yml" % role)
    options: Dict[str, Dict[str, Any]] = {}
    for name, option in (source.get("options") or {}).items():
        found = users(source, option)
        if role in found or entry in found:
            spec = {key: option[key] for key in _SPEC_KEYS if key in option}
            spec["description"] = option.get("description", "")
            if _required(option, entry):
                spec["required"] = True
            options[name] = spec
    return options


def role_argument_spec(source: Mapping[str, Any], role: str) -> Dict[str, Any]:
    """The argument spec of ``role``'s main entry point, as ansible-doc and the role's own validation read it."""
    about = (source.get("roles") or {}).get(role)
    if about is None:
        raise SpecError("%s: no such role in meta/variables.yml" % role)
    declared = source.get("options") or {}
    options: Dict[str, Dict[str, Any]] = {}
    for name, spec in sorted(entry_options(source, role).items()):
        option = declared[name]
        shown = {"type": spec.get("type", "str")}
        if "elements" in spec:
            shown["elements"] = spec["elements"]
        if spec.get("required"):
            shown["required"] = True
        elif "default" in option and not is_template(option["default"]):
            shown["default"] = option["default"]
        for key in ("choices", "no_log", "version_added"):
            if key in option:
                shown[key] = option[key]
        text = spec["description"]
        if option.get("default_text") and not spec.get("required"):
            text = "%s Default %s." % (text, option["default_text"])
        shown["description"] = text
        options[name] = shown
    for shown in options.values():
        # O() may only name an option of this entry point; another variable is shown as code
        shown["description"] = _OPTION_REFERENCE.sub(lambda match: match.group(0) if match.group(1) in options
                                                     else "C(%s%s)" % match.groups(), shown["description"])
    main: Dict[str, Any] = {"short_description": about["short_description"],
                            "description": about.get("description") or [about["short_description"] + "."],
                            "author": ["lastmile.deploy contributors"]}
    if "version_added" in about:
        main["version_added"] = about["version_added"]
    main["options"] = options
    return {"argument_specs": {"main": main}}
