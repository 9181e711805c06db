"""Simulated participants: dry-run a study through the real server before any human sees it.

``exp.simulate(n, policy=..., pace=...)`` (and ``mug simulate path/to/experiment.py -n N``) sends
``n`` headless participants through every scene over the page protocol, and returns a
`SimulationReport`: who completed, who ended early and why, what failed. Their data is kept,
marked simulated, and left out of ``results()`` unless asked for (docs/simulate.md).
"""

from mug.simulate.participant import ParticipantOutcome
from mug.simulate.run import SimulationError, SimulationReport, simulate

__all__ = ["ParticipantOutcome", "SimulationError", "SimulationReport", "simulate"]
