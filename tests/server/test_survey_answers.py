"""Survey answers over the real protocol: the server refuses a missing required answer and stores typed answers."""

from __future__ import annotations

import socketio
from helpers import join

from mug import EndScene, Experiment, ScalesAndTextBox


def test_the_server_refuses_a_survey_without_a_required_answer_and_stores_typed_answers(tmp_path) -> None:
    survey = ScalesAndTextBox(scale_questions=["Fun?"], scale_size=5, text_box_header="Why?").scene("rate")
    exp = Experiment("survey", [survey, EndScene().scene("end")], data_dir=tmp_path)
    with exp.serve() as server:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            assert join(client, server, "rater")["scene"]["scene_id"] == "rate"
            # A page that skipped its own check (or was tampered with) is refused, and stays in the scene.
            for answers, problem in (
                ({"text": "no rating"}, "the answer to 'Fun?' (scale_1) is required"),
                ({"scale_1": 9}, "answer 'scale_1' must be an int from 1 to 5, got 9"),
                ({"scale_1": "4"}, "answer 'scale_1' must be an int from 1 to 5, got '4'"),
            ):
                reply = client.call("advance", {"scene_id": "rate", "answers": answers})
                assert reply["ok"] is False and problem in reply["error"], reply
            reply = client.call("advance", {"scene_id": "rate", "answers": {"scale_1": 4, "stray": "x"}})
            assert reply["ok"] and reply["scene"]["scene_id"] == "end", reply
        finally:
            client.disconnect()
    forms = exp.results().forms
    assert len(forms) == 1 and forms.iloc[0]["scale_1"] == 4 and forms.iloc[0]["text"] == ""
    assert forms["scale_1"].dtype == "Int64" and "stray" not in forms.columns
