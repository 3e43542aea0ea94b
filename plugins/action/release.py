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

MODULE = "lastmile.deploy.release"


class ActionModule(ActionBase):
    # the temporary directory is made below, only when there is a file to send: the switch and
    # record tasks run with pipelining and need none
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        try:
            remote_src = boolean(args.get("remote_src", True), strict=True)
        except TypeError as exc:
            result.update(failed=True, msg="remote_src: %s" % exc)
            return result
        if remote_src or not args.get("src"):
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result

        try:
            source = self._find_needle("files", args["src"])
        except AnsibleError as exc:
            result.update(failed=True, msg="src %s is not a file on the controller: %s" % (args["src"], to_text(exc)))
            return result
        if self._connection._shell.tmpdir is None:
            self._make_tmp_path()
        try:
            # keep the suffix: the module recognises archives by content, but names help the reader
            remote = self._connection._shell.join_path(self._connection._shell.tmpdir, "artifact-" + os.path.basename(source))
            try:
                self._transfer_file(source, remote)
            except AnsibleError as exc:
                result.update(failed=True, msg="cannot send %s to %s on the host: %s" % (source, remote, to_text(exc.message)))
                return result
            self._fixup_perms2((self._connection._shell.tmpdir, remote))
            args.update(src=remote, remote_src=True)
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
