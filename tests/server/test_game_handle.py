"""Both kinds of server-run game keep the `GameHandle` the session layer relies on."""

from __future__ import annotations

import pytest
from envs import race_scene
from helpers import eventually
from test_game_processes import _experiment, _racing

from mug.server.games.game import ServerGame
from mug.server.games.handle import GameHandle
from mug.server.games.processes.parent import RemoteGame


@pytest.mark.parametrize(("game_processes", "kind"), [(0, ServerGame), (1, RemoteGame)])
def test_a_running_game_of_either_kind_is_a_game_handle(tmp_path, game_processes: int, kind: type) -> None:
    exp = _experiment(tmp_path, race_scene(length=100_000))
    with exp.serve(game_processes=game_processes) as server, _racing(server) as (red, _blue):
        eventually(lambda: red.said("running"))
        games = server.call(lambda: list(server.sessions.games.values()))
    assert len(games) == 1 and type(games[0]) is kind
    missing = [name for name in _members(GameHandle) if not hasattr(games[0], name)]
    assert not missing, f"{kind.__name__} lacks {missing}"
    assert isinstance(games[0], GameHandle)


def _members(protocol: type) -> list[str]:
    names = set(getattr(protocol, "__annotations__", {}))
    methods = {n for n, v in vars(protocol).items() if callable(v) or isinstance(v, property)}
    names |= {n for n in methods if not n.startswith("_")}
    return sorted(names)


def test_the_stand_in_of_a_game_on_another_server_is_a_game_handle() -> None:
    # (Made directly: tests/server/test_cluster_relay.py plays one through two real servers.)
    from mug.server.cluster.linked import LinkedGame

    async def nothing(*_: object) -> None:
        return None

    scene = race_scene(length=10)
    game = LinkedGame(
        "other-server", scene, "g1", {"red": "ann", "blue": "bob"}, send=lambda m: None,
        on_finished=nothing, on_dropped=nothing,
    )  # fmt: skip
    missing = [name for name in _members(GameHandle) if not hasattr(game, name)]
    assert not missing, f"LinkedGame lacks {missing}"
    assert isinstance(game, GameHandle)
    game.local.append("ann")
    assert game.participant_ids == ["ann"]  # its players here only: the others' servers move them on
    assert game.snapshot("ann")["agent_id"] == "red"
    assert game.submit_action("bob", 1) == "you are not a player of this game"  # (bob is on another server)
