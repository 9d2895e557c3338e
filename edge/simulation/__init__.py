"""A simulated kitchen for the demo and tests: cold units, waste bins, a dining room.

Simulated sensors implement `ReadingSource` and run inside real agents, so the demo
goes through the same outbox, MQTT link and agent loop as a kitchen Pi.
"""

from edge.simulation.clock import SimClock
from edge.simulation.kitchen import DEVICES, run_simulation, sites_for

__all__ = ["DEVICES", "SimClock", "run_simulation", "sites_for"]
