"""Overcooked with an AI partner: a participant cooks with a small neural network (ONNX).

The partner (examples/models/overcooked_partner.onnx) is a network this project trained to
imitate a scripted cook (examples/models/build_partner.py rebuilds it); it reads the compact
observation ``overcooked_kitchen.features`` and the server runs it with onnxruntime at each step.
To use your own policy, export it to ONNX with the same input and output and change the path.
Needs ``pip install cogrid``.

    mug serve examples/overcooked_human_ai.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import mug
from mug.policies import ModelConfig

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from overcooked import HOW_TO_PLAY, kitchen_scene  # noqa: E402

partner = ModelConfig(HERE / "models" / "overcooked_partner.onnx", obs_input="obs", logit_output="logits")

game = kitchen_scene("kitchen_with_ai", {"blue": "human", "green": partner})

experiment = mug.Experiment(
    "overcooked-human-ai",
    [
        mug.StartScene()
        .scene("welcome")
        .display(scene_header="Welcome", scene_body=HOW_TO_PLAY + "<p>Your partner (green) is a computer.</p>"),
        game,
        mug.ScalesAndTextBox(
            scale_questions={"helpful": "My partner was helpful.", "humanlike": "My partner played like a person."},
            scale_size=7,
            scale_labels=["Strongly disagree", "Neutral", "Strongly agree"],
        ).scene("partner_ratings"),
        mug.CompletionCodeScene().scene("end"),
    ],
    title="Overcooked with an AI partner",
)
