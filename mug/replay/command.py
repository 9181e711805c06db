"""``mug replay <data dir> [game_id] [--episode N]``: replay recorded games headless and print the verification.

Exit status: 0 when every replayed episode matches its record, 1 when one diverges, 2 when the game
cannot be found or rebuilt (the message says why).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add the ``replay`` command to the ``mug`` command's subparsers."""
    replay = sub.add_parser(
        "replay",
        help="replay a recorded game from its data and check every step against the record",
        description="Rebuild a recorded game from its saved seed, config and actions and compare every step's "
        "rewards, terminations, infos and recorded observations with the record. Without a game id, list "
        "the recorded games. Exit status 1 when a step differs, 2 when the game cannot be replayed.",
    )
    replay.add_argument("data_dir", help="the experiment's data folder (data_dir/experiment_id)")
    replay.add_argument("game_id", nargs="?", default=None, help="the game (its id, or a unique beginning of it)")
    replay.add_argument("--episode", type=int, default=None, help="replay up to this episode and report it only")
    replay.add_argument(
        "--experiment",
        default=None,
        help="path/to/experiment.py[:name]: the experiment that ran the game, for a server-run env that cannot "
        "be imported by name (defined in the script itself)",
    )
    replay.add_argument("--peer", default=None, help="a peer-to-peer game: check this participant's own rows")
    replay.add_argument(
        "--tolerance", type=float, default=0.0,
        help="numbers within this count as equal (default 0: exact), e.g. 1e-12 for math functions that round "
        "differently outside the browser",
    )  # fmt: skip
    replay.set_defaults(func=run)


def _list(data_dir: str) -> int:
    from mug.replay import list_games

    games = list_games(data_dir)
    if not games:
        print(f"no games recorded in {data_dir}")
        return 0
    print(f"{'game_id':<34} {'scene':<16} {'mode':<21} {'outcome':<12} {'episodes':>8} {'steps':>7}")
    for game in games:
        print(
            f"{game['game_id']:<34} {str(game['scene_id'])[:16]:<16} {game['mode']:<21} "
            f"{game['outcome'] or '-'!s:<12} {game['episodes']:>8} {game['steps']:>7}"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``mug replay`` with parsed arguments; returns the exit status."""
    from mug.cli import CliError, load_experiment
    from mug.replay import ReplayError, replay_game

    try:
        if args.game_id is None:
            return _list(args.data_dir)
        experiment = load_experiment(args.experiment) if args.experiment else None
        episodes = [args.episode] if args.episode is not None else None
        result = replay_game(
            args.data_dir, args.game_id, episodes=episodes, experiment=experiment, peer=args.peer,
            tolerance=args.tolerance,
        )  # fmt: skip
    except (ReplayError, FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(result.report())
    return 0 if result.ok else 1
