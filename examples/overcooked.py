"""Overcooked for two people: two participants cook onion soup together in CoGrid's cramped kitchen.

The server runs the game (server-authoritative): both players' keys go to it, it steps CoGrid at
8 steps a second and sends both the same frames, drawn with the examples' own sprites
(examples/overcooked_art). Participants wait in a waitroom until a partner arrives. Needs
``pip install cogrid``.

    mug serve examples/overcooked.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import mug

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # the kitchen module beside this file, wherever it is served from

from overcooked_kitchen import KEY_ACTIONS, NOOP, Kitchen  # noqa: E402

HOW_TO_PLAY = """
<p>You and a partner run a small kitchen. Put <b>three onions</b> in the pot, wait for the soup to
cook, take a <b>plate</b> to the pot to pick the soup up, and bring it to the <b>green counter</b>.
Every soup served earns you both 20 points.</p>
<p>Move with the <b>arrow keys</b>; press <b>space</b> to pick up or put down what is in front of you.</p>
"""


def _hud(info: mug.HudInfo) -> str:
    return f"Round {info.episode} of {info.num_episodes}"


def kitchen_scene(scene_id: str, policy_mapping: dict[str, object]) -> mug.GymScene:
    """The cramped kitchen as a game scene; the human-AI example uses it too."""
    scene = mug.GymScene().scene(scene_id)
    if list(policy_mapping.values()).count("human") > 1:
        scene.multiplayer()  # several participants in one game, run by the server
    return (
        scene.environment(env_creator=Kitchen, seed=17)
        .assets(
            atlases={"kitchen": {"image": "overcooked_art/kitchen.png", "json": "overcooked_art/kitchen.json"}},
            assets_dir=str(HERE),
        )
        .rendering(fps=8, game_width=500, game_height=400, background="#3b2a1e", hud=_hud)
        .gameplay(
            action_mapping=KEY_ACTIONS,
            default_action=NOOP,
            num_episodes=2,
            max_steps=480,  # a minute at 8 steps a second
            input_mode="single_keystroke",
            action_population_method="default_action",
            reset_freeze_s=2,
        )
        .policies(policy_mapping=policy_mapping)
        .content(scene_header="Overcooked", scene_body=HOW_TO_PLAY)
    )


game = kitchen_scene("kitchen", {"blue": "human", "green": "human"}).waitroom(
    timeout=300, timeout_message="Nobody else joined in time. Thank you for your patience."
)

experiment = mug.Experiment(
    "overcooked",
    [
        mug.StartScene().scene("welcome").display(scene_header="Welcome", scene_body=HOW_TO_PLAY),
        game,
        mug.ScalesAndTextBox(
            scale_questions={"teamwork": "My partner and I worked well together."},
            scale_size=7,
            scale_labels=["Strongly disagree", "Neutral", "Strongly agree"],
            text_box_header="How did you split the work?",
        ).scene("teamwork"),
        mug.CompletionCodeScene().scene("end"),
    ],
    title="Overcooked",
)
