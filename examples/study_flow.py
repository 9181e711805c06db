"""A whole study, as it would run on Prolific: consent → a randomized condition → the game →
questionnaires → back to Prolific with a completion code.

The between-subjects manipulation is the width of the basket in Catch (narrow or wide).
``RandomizeOrder(keep_n=1, balanced=True)`` gives each participant one condition, the least
assigned one first, so the conditions fill evenly; the draw is recorded and kept across reloads.
Replace the completion URL's code with your study's own.

    mug serve examples/study_flow.py
    # Prolific study URL: https://your.host/?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}
"""

from __future__ import annotations

import mug
from mug.env.examples.catch import CatchEnv

PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc=CEXAMPLE"

CONSENT = """
<p>In this study you play a short catching game and answer a few questions about it. It takes about
five minutes. Your answers are stored without your name; your Prolific id is used only to pay you.</p>
<p><label><input type="checkbox" name="consent" required> I have read the above and agree to take part.</label></p>
"""

HOW_TO_PLAY = """
<p>Fruit falls from the top of the screen. Move the basket with <b>←</b> and <b>→</b> to catch it.</p>
"""


def _hud(info: mug.HudInfo) -> str:
    return f"Round {info.episode} of {info.num_episodes}   ·   Score {sum(info.returns.values()):+.0f}"


def catch_condition(name: str, basket_width: float) -> mug.GymScene:
    """The game in one condition; its scene id names the condition in the data."""
    return (
        mug.GymScene()
        .scene(f"catch_{name}")
        .environment(env_creator=CatchEnv, env_config={"max_drops": 5, "paddle_width": basket_width}, seed=5)
        .rendering(fps=20, game_width=600, game_height=400, background="#eaf2ff", hud=_hud)
        .gameplay(
            action_mapping={"ArrowLeft": 1, "ArrowRight": 2},
            default_action=0,
            num_episodes=2,
            max_steps=1000,
            input_mode="pressed_keys",
            reset_freeze_s=1,
        )
        .policies(policy_mapping={"player": "human"})
        .content(scene_header="Catch", scene_body=HOW_TO_PLAY)
    )


experiment = mug.Experiment(
    "study-flow",
    [
        mug.StartScene().scene("consent").display(scene_header="Welcome", scene_body=CONSENT),
        mug.RandomizeOrder([catch_condition("narrow", 0.12), catch_condition("wide", 0.3)], keep_n=1, balanced=True),
        mug.ScalesAndTextBox(
            scale_questions={"fun": "The game was fun.", "hard": "The game was hard.", "control": "I was in control."},
            scale_size=7,
            scale_labels=["Strongly disagree", "Neutral", "Strongly agree"],
            pre_scale_header="How much do you agree?",
        ).scene("ratings"),
        mug.MultipleChoice(
            questions={"played_before": "Have you played a game like this before?"},
            choices=["Never", "Once or twice", "Often"],
        ).scene("background"),
        mug.TextBox(text_box_header="Anything else you would like to tell us?", required=False).scene("comments"),
        mug.CompletionCodeScene().scene("done").redirect(PROLIFIC_COMPLETION_URL),
    ],
    title="A catching game",
)
