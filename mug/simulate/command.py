"""``mug simulate path/to/experiment.py -n N``: the dry run of `Experiment.simulate`, for scripts.

Loads the experiment as ``mug serve`` does, serves it on a private server on 127.0.0.1, runs the
simulated participants, prints the report and exits 0 when every participant completed, 1 when
any did not, 2 when the simulation could not run.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "cmd_simulate"]


def add_parser(sub: Any) -> None:
    """Add the ``simulate`` command to the ``mug`` command's subparsers."""
    parser = sub.add_parser(
        "simulate", help="dry-run an experiment with simulated participants (their data is marked simulated)"
    )
    parser.add_argument("target", help="path/to/experiment.py[:name]")
    parser.add_argument("-n", type=int, default=1, help="simulated participants, all at once (default 1)")
    parser.add_argument(
        "--policy",
        default="random",
        help="'random' (default), or module:name of a callable policy(observation) -> action or a ModelConfig",
    )
    parser.add_argument("--pace", default="fast", choices=["fast", "realtime"])
    parser.add_argument("--seed", type=int, default=None, help="seed of the simulated answers and random actions")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before unfinished participants stop")
    parser.add_argument(
        "--query",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a query parameter of every simulated participant's link",
    )
    parser.add_argument("--data-dir", default=None, help="override the experiment's data_dir")
    parser.set_defaults(func=cmd_simulate)


def _policy(text: str) -> Any:
    from mug.cli import CliError

    if text == "random":
        return text
    module_name, _, attr = text.partition(":")
    if not attr:
        raise CliError(f"--policy must be 'random' or module:name (e.g. mypolicies:greedy), got {text!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise CliError(f"cannot load the policy {text}: {exc}") from None


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run the simulation the arguments describe; print its report."""
    from mug.cli import CliError, load_experiment
    from mug.simulate import SimulationError, simulate

    exp = load_experiment(args.target)
    if args.data_dir:
        exp.data_dir = Path(args.data_dir)
    query = {}
    for item in args.query:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--query takes KEY=VALUE, got {item!r}")
        query[key] = value
    try:
        report = simulate(
            exp,
            args.n,
            policy=_policy(args.policy),
            pace=args.pace,
            seed=args.seed,
            timeout_s=args.timeout,
            query=query or None,
        )
    except (SimulationError, ValueError, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    print(report)
    print(f"data: {exp.data_path.resolve()} (marked simulated: load_results(path, simulated=True) includes them)")
    return 0 if report.ok else 1
