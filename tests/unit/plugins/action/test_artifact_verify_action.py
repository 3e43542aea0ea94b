# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""artifact_verify on the controller verifies in the task's own process and hides what the module would hide."""

from __future__ import annotations

import hashlib
from unittest.mock import MagicMock

from ansible_collections.lastmile.deploy.plugins.action.artifact_verify import ActionModule

PASSWORD = "pw-9e41c07b"


def action(args, transport="local") -> ActionModule:
    task = MagicMock(args=args, async_val=0, check_mode=False, diff=False, delegate_to="localhost")
    connection, play_context = MagicMock(transport=transport), MagicMock(become=False)
    plugin = ActionModule(task, connection, play_context, MagicMock(), MagicMock(), MagicMock())
    plugin._execute_module = MagicMock(return_value={"path": "/elsewhere", "invocation": {"module_args": {}}})
    return plugin


def test_a_local_artifact_is_verified_in_the_task_process(tmp_path):
    artifact = tmp_path / "shop-1.0.0.tar.gz"
    artifact.write_bytes(b"release")
    digest = hashlib.sha256(b"release").hexdigest()
    plugin = action(dict(path=str(artifact), checksum="sha256:" + digest))
    result = plugin.run(task_vars={})
    plugin._execute_module.assert_not_called()
    assert result["path"] == str(artifact) and result["checksum"] == "sha256:" + digest and result["verified"] is True
    wrong = action(dict(path=str(artifact), checksum="sha256:" + "0" * 64)).run(task_vars={})
    assert wrong["failed"] is True and wrong["msg"].startswith("checksum mismatch for %s" % artifact), wrong


def test_unverified_use_warns_and_bad_arguments_are_named(tmp_path):
    artifact = tmp_path / "shop.zip"
    artifact.write_bytes(b"zip")
    result = action(dict(path=str(artifact), allow_unverified=True)).run(task_vars={})
    assert result["verified"] is False
    assert result["warnings"] == ["artifact %s is used unverified: no checksum was given" % artifact]
    both = action(dict(path=str(artifact), url="https://example.invalid/shop.zip")).run(task_vars={})
    assert both["failed"] is True and "mutually exclusive: path|url" in both["msg"]


def test_a_password_written_in_a_url_is_hidden_from_the_result():
    url = "https://deployer:%s@artifacts.example.invalid/shop.tar.gz" % PASSWORD
    plugin = action(dict(url=url, checksum="https://deployer:%s@artifacts.example.invalid/SHA256SUMS" % PASSWORD))
    plugin.run_here = lambda params, check_mode, diff, warnings: dict(echo=[params["url"], params["checksum"]])
    result = plugin.run(task_vars={})
    assert PASSWORD not in repr(result) and result["echo"][0].startswith("https://deployer:")


def test_over_another_connection_the_module_runs(tmp_path):
    plugin = action(dict(path=str(tmp_path / "shop.zip")), transport="ssh")
    assert plugin.run(task_vars={})["path"] == "/elsewhere"
    plugin._execute_module.assert_called_once()
