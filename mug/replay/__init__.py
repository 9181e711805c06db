"""Replay a recorded episode exactly, and verify it against the record (docs/replay.md).

    >>> from mug.replay import replay_game                                  # doctest: +SKIP
    >>> result = replay_game("data/my_study", "3f2a", episodes=[1])        # doctest: +SKIP
    >>> print(result.report())                                              # doctest: +SKIP

In a notebook, ``exp.replay(game_id, episode)`` shows the same replay as a widget drawn by the
participants' renderer; from a shell, ``mug replay <data dir> <game_id>``.
"""

from __future__ import annotations

from mug.replay.engine import Divergence, EpisodeReplay, GameReplay, ReplayedStep, replay_game
from mug.replay.record import GameRecord, ReplayError, list_games, read_game

__all__ = [
    "Divergence",
    "EpisodeReplay",
    "GameRecord",
    "GameReplay",
    "ReplayError",
    "ReplayedStep",
    "list_games",
    "read_game",
    "replay_game",
]
