# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run collection modules in-process (patched args) or through the real `ansible` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Callable, Dict, Tuple

import pytest
from ansible.module_utils.testing import patch_module_args

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")


def run_in_process(main: Callable[[], None], args: Dict[str, Any], capsys, check_mode: bool = False) -> Tuple[int, dict]:
    """Call a module's main() with ``args``; return (exit code, result dict)."""
    module_args = dict(args)
    if check_mode:
        module_args["_ansible_check_mode"] = True
    with patch_module_args(module_args):
        with pytest.raises(SystemExit) as exited:
            main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def run_ansible(module: str, args: Dict[str, Any], check_mode: bool = False, timeout: float = 120) -> Tuple[int, dict]:
    """Run ``ansible localhost -m lastmile.deploy.<module>``; return (exit code, result dict)."""
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="0",
        ANSIBLE_LOCALHOST_WARNING="0",
    )
    command = [ANSIBLE, "localhost", "-i", "localhost,", "-c", "local",
               "-m", "lastmile.deploy." + module, "-a", json.dumps(args)]
    if check_mode:
        command.append("--check")
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    marker = completed.stdout.find("localhost | ")
    start = completed.stdout.find("{", marker)
    if marker < 0 or start < 0:
        raise AssertionError("no module result in ansible output:\n%s\n%s" % (completed.stdout, completed.stderr))
    result, _ = json.JSONDecoder().raw_decode(completed.stdout[start:])
    return completed.returncode, result
