"""Every results table has its documented columns and dtypes before anyone has played.

A researcher writes the analysis cells of a notebook before the first participant arrives; those
cells must run on the empty tables (and keep running, unchanged, once data comes in).
"""

from __future__ import annotations

import pandas as pd
import socketio
from envs import race_scene, walk_scene
from helpers import eventually, join

from mug import EndScene, Experiment, MultipleChoice, ScalesAndTextBox, StartScene
from mug.data import Results

# Columns that exist only when some row has the key (documented as such in docs/data.md).
_FLATTENED = ("info.", "query.", "data.", "focus.", "obs")


def _analysis(results: Results) -> dict[str, object]:
    """What a notebook's analysis cells do with a single-player study's tables."""
    steps, episodes = results.steps, results.episodes
    return {
        "reward per agent": steps.groupby("agent_id")["reward"].sum(),
        "actions": steps["action"].value_counts(),
        "steps per episode": steps.groupby(["game_id", "episode"]).size(),
        "mean return": episodes.groupby("agent_id")["return"].mean(),
        "who played": results.games["players.walker"].tolist(),
        "per player": results.player_steps.groupby("participant_id")["reward"].sum(),
        "mean rating": results.forms["fun"].mean(),
        "comments": results.forms["text"].str.len(),
        "picked": results.forms["colour"].explode().value_counts(),
    }


def _scenes() -> list:
    rating = ScalesAndTextBox(scale_questions={"fun": "Fun?"}, scale_size=5, text_box_header="Why?").scene("rate")
    colour = MultipleChoice(questions={"colour": "Which colour?"}, choices=["red", "blue"]).scene("colour")
    return [StartScene().scene("start"), walk_scene(length=5), rating, colour, EndScene().scene("end")]


def _take_part(server, participant: str) -> None:
    """A participant over the real protocol: plays the walk to its end, then answers both surveys."""
    scenes: list[dict] = []
    client = socketio.Client(reconnection=False)
    client.on("scene", scenes.append)
    client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
    try:
        scene = join(client, server, participant)["scene"]
        while scene["scene_id"] != "walk":
            scene = client.call("advance", {"scene_id": scene["scene_id"]})["scene"]
        assert client.call("start_game", {"scene_id": "walk"})["ok"]
        eventually(lambda: any(s["scene_id"] == "rate" for s in scenes))  # the game ended; on to the survey
        scene = client.call("advance", {"scene_id": "rate", "answers": {"fun": 4, "text": "good"}})["scene"]
        assert scene["scene_id"] == "colour", scene
        assert client.call("advance", {"scene_id": "colour", "answers": {"colour": ["blue"]}})["ok"]
    finally:
        client.disconnect()


def test_tables_have_the_same_columns_and_dtypes_before_and_after_anyone_played(tmp_path) -> None:
    exp = Experiment("schema", _scenes())
    exp.data_dir = tmp_path
    with exp.serve() as server:
        before = server.results()
        _analysis(before)  # the cells written before anyone played run (on empty tables)
        _take_part(server, "first")
        after = server.results()
    assert _analysis(after)["reward per agent"].index.tolist() == ["walker"]
    for name, empty in before.tables().items():
        full = after.tables()[name]
        if full.empty:
            continue
        assert empty.empty, name
        assert list(empty.columns) == [c for c in full.columns if c in empty.columns], name
        missing = [c for c in full.columns if c not in empty.columns and not c.startswith(_FLATTENED)]
        assert not missing, f"{name}: an empty table lacks {missing}"
        for column in empty.columns:
            if column != "action":  # (any value: its dtype follows the actions recorded)
                assert empty[column].dtype == full[column].dtype, (name, column)


def test_an_empty_multiplayer_study_has_a_column_per_agent(tmp_path) -> None:
    exp = Experiment("race", [StartScene().scene("start"), race_scene(), EndScene().scene("end")])
    exp.data_dir = tmp_path
    with exp.serve() as server:
        results = server.results()
    steps = results.steps
    assert {"action.red", "action.blue"} <= set(steps.columns)
    assert steps["reward.red"].dtype == "float64" and steps["reward.blue"].dtype == "float64"
    assert "agent_id" not in steps.columns
    assert results.episodes[["return.red", "return.blue"]].sum().tolist() == [0.0, 0.0]
    assert {"players.red", "players.blue"} <= set(results.games.columns)
    assert pd.api.types.is_float_dtype(results.episodes["return.red"])
