# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""--transport ssh: the fleet's own sshd on loopback for the LB host and every host."""
from __future__ import annotations

from typing import Callable, List, Optional

from benchkit.ansible_run import BenchError
from fleet import Fleet
from fleet.sshd import SSHServer

# the LB host's address when the fleet is reached over SSH (the app hosts keep their own 127.0.0.x)
SSH_LB_ADDRESS = "127.0.0.1"
# one sshd listens on at most 16 addresses (its MAX_LISTEN_SOCKS): larger fleets get several
SSHD_MAX_ADDRESSES = 16


def start_ssh_servers(fleet: Fleet, servers: List[SSHServer]) -> Callable[[str, Optional[str]], dict]:
    """sshd on the LB address and every host's (appended to ``servers`` as they start); the inventory transport."""
    addresses = [SSH_LB_ADDRESS] + [h.address for h in fleet.hosts]
    for first in range(0, len(addresses), SSHD_MAX_ADDRESSES):
        servers.append(SSHServer(addresses[first:first + SSHD_MAX_ADDRESSES]))
        servers[-1].start()
    by_address = {address: server for server in servers for address in server.addresses}

    def transport(name: str, address: Optional[str]) -> dict:
        return by_address[address or SSH_LB_ADDRESS].host_vars(name, address)
    return transport


def stop_ssh_servers(servers: List[SSHServer]) -> None:
    errors = []
    for server in servers:
        try:
            server.stop()
        except Exception as e:  # pylint: disable=broad-except  # stop the others, then report
            errors.append(str(e))
    if errors:
        raise BenchError("; ".join(errors))
