# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of release: with remote_src=false, sends the archive and unpacks it in one task.

Staging through ansible.builtin.copy takes a directory task, a stat and a copy before the
unpack: four module runs per host. Here the archive goes to the task's temporary directory
on the host and the module unpacks it from there in the same task: one module run. The
temporary copy is removed with the directory; the unpacked release keeps its checksum.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.lastmile.deploy.plugins.module_utils.errors import LastmileError, failure
from ansible_collections.lastmile.deploy.plugins.module_utils.release.root import ReleaseError

MODULE = "lastmile.deploy.release"


class ActionModule(ActionBase):
    # the temporary directory is made below, only when there is a file to send: the switch and
    # record tasks run with pipelining and need none
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        try:
            result.update(self._release(dict(self._task.args), task_vars))
        except LastmileError as exc:
            result.update(failure(exc))
        return result

    def _release(self, args, task_vars):
        """The module's result; raises ReleaseError when the archive cannot be sent."""
        try:
            remote_src = boolean(args.get("remote_src", True), strict=True)
        except TypeError as exc:
            raise ReleaseError("remote_src: %s" % exc) from None
        if remote_src or not args.get("src"):
            return self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)

        try:
            source = self._find_needle("files", args["src"])
        except AnsibleError as exc:
            raise ReleaseError("src %s is not a file on the controller: %s" % (args["src"], to_text(exc))) from None
        if self._connection._shell.tmpdir is None:
            self._make_tmp_path()
        try:
            # keep the suffix: the module recognises archives by content, but names help the reader
            remote = self._connection._shell.join_path(self._connection._shell.tmpdir, "artifact-" + os.path.basename(source))
            try:
                self._transfer_file(source, remote)
            except AnsibleError as exc:
                raise ReleaseError("cannot send %s to %s on the host: %s" % (source, remote, to_text(exc.message))) from None
            self._fixup_perms2((self._connection._shell.tmpdir, remote))
            args.update(src=remote, remote_src=True)
            return self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
