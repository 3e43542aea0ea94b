# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run collection modules in-process (patched args) or through the real `ansible` CLI."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from typing import Any, Callable, Dict, List, Tuple

import pytest
from ansible.module_utils.testing import patch_module_args

# abspath, not realpath: through .build/collections the path keeps its ansible_collections/ parts
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def collections_root(collection_dir: str = REPO) -> str:
    """The directory holding ``ansible_collections/lastmile/deploy`` for ``collection_dir``."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(collection_dir)))
    if os.path.basename(os.path.dirname(os.path.dirname(collection_dir))) == "ansible_collections":
        return root
    return os.path.join(collection_dir, ".build", "collections")


COLLECTIONS = collections_root()


def ansible_cli() -> Tuple[List[str], Dict[str, str]]:
    """Command and environment that run the ``ansible`` ad-hoc CLI with this Python and this collection.

    ansible-test runs module unit tests with only ``ansible.module_utils`` importable; the CLI
    then comes from the ansible-core that ansible-test itself runs from.
    """
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
    )
    if importlib.util.find_spec("ansible.cli") is None:
        lib_root = os.environ.get("ANSIBLE_TEST_ANSIBLE_LIB_ROOT")
        if not lib_root:
            pytest.skip("the ansible CLI is not importable from %s and ANSIBLE_TEST_ANSIBLE_LIB_ROOT is unset"
                        % sys.executable)
        env["PYTHONPATH"] = os.path.dirname(lib_root)
    return [sys.executable, "-m", "ansible.cli.adhoc"], env


def run_in_process(main: Callable[[], None], args: Dict[str, Any], capsys, check_mode: bool = False) -> Tuple[int, dict]:
    """Call a module's main() with ``args``; return (exit code, result dict)."""
    module_args = dict(args)
    if check_mode:
        module_args["_ansible_check_mode"] = True
    with patch_module_args(module_args), _as_a_module():
        with pytest.raises(SystemExit) as exited:
            main()
    return exited.value.code, json.loads(capsys.readouterr().out)


@contextlib.contextmanager
def _as_a_module():
    """Run module code as on a host: once controller code was imported in this process (an action plugin's
    test ran before), ansible-core 2.19 sends module warnings to the controller's display instead of the result."""
    internal = importlib.import_module("ansible.module_utils._internal")
    if not hasattr(internal, "is_controller"):  # ansible-core before 2.19
        yield
        return
    saved = internal.is_controller
    internal.is_controller = False
    try:
        yield
    finally:
        internal.is_controller = saved


def run_ansible(module: str, args: Dict[str, Any], check_mode: bool = False, timeout: float = 120) -> Tuple[int, dict]:
    """Run ``ansible localhost -m lastmile.deploy.<module>``; return (exit code, result dict)."""
    ansible, env = ansible_cli()
    command = ansible + ["localhost", "-i", "localhost,", "-c", "local",
                         "-m", "lastmile.deploy." + module, "-a", json.dumps(args)]
    if check_mode:
        command.append("--check")
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                               check=False)
    marker = completed.stdout.find("localhost | ")
    start = completed.stdout.find("{", marker)
    if marker < 0 or start < 0:
        raise AssertionError("no module result in ansible output:\n%s\n%s" % (completed.stdout, completed.stderr))
    result, end = json.JSONDecoder().raw_decode(completed.stdout[start:])
    return completed.returncode, result
