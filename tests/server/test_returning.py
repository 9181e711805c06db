"""A participant who completed the study, or was excluded, cannot start it again: coming back with the
same id (the same browser or another one the study allows) shows their ending, and nothing new is
recorded for them."""

from __future__ import annotations

import socketio
from helpers import join

from mug import CompletionCodeScene, Experiment, StartScene, StaticScene


def page(server, pid: str, **payload) -> tuple[socketio.Client, dict]:
    client = socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
    reply = join(client, server, pid, **payload)
    assert reply["ok"], reply
    return client, reply


def test_a_participant_who_completed_cannot_start_again(tmp_path) -> None:
    scenes = [StartScene().scene("hello"), StaticScene().scene("middle"), CompletionCodeScene().scene("end")]
    exp = Experiment("once", scenes, data_dir=tmp_path, allow_device_switch=True)
    with exp.serve() as server:
        client, reply = page(server, "p1")
        assert reply["scene"]["scene_id"] == "hello"
        client.call("advance", {"scene_id": "hello"})
        done = client.call("advance", {"scene_id": "middle"})["scene"]
        assert done["scene_id"] == "end" and done["completion_code"]
        client.disconnect()
        # The same participant again (another browser, as allow_device_switch lets them): the ending.
        again, reply = page(server, "p1", secret="another-browser-secret-0123456789")
        assert reply["scene"]["scene_id"] == "end" and reply["scene"]["completion_code"] == done["completion_code"]
        refused = again.call("advance", {"scene_id": "hello"})
        assert refused["ok"] is False  # no way back to the first scene
        again.disconnect()
    results = exp.results()
    person = results.participants.set_index("participant_id").loc["p1"]
    assert person["status"] == "completed" and person["completion_code"] == done["completion_code"]
    visits = results.scene_visits
    assert list(visits[visits["participant_id"] == "p1"]["scene_id"]) == ["hello", "middle", "end"]
