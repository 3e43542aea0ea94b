# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local test fleet: loopback hosts under supervisord, the sample app, HAProxy and a load generator."""
from fleet.artifacts import Artifact, build_release
from fleet.fleet import Fleet
from fleet.haproxy import HAProxy, runtime_command
from fleet.hosts import FleetHost
from fleet.inventory import build_inventory
from fleet.load import LoadGenerator, LoadReport
from fleet.procs import FleetError

__all__ = ["Artifact", "Fleet", "FleetError", "FleetHost", "HAProxy", "LoadGenerator", "LoadReport",
           "build_inventory", "build_release", "runtime_command"]
