"""The demo experiment: consent → instructions → two episodes of Catch → feedback form → end."""

from __future__ import annotations

import os

from mug.env.examples.catch import CatchEnv
from mug.experiment import Experiment
from mug.scenes import CompletionCodeScene, GymScene, HudInfo, StartScene, StaticScene

CONSENT = """
<p>This is a demonstration of MUG. You will play two short rounds of a catching game and answer
two questions. Nothing identifies you.</p>
<label><input type="checkbox" name="consent" required data-testid="consent"> I agree to take part.</label>
"""

INSTRUCTIONS = """
<p>Fruit falls from the top of the screen. Move the basket with the <b>←</b> and <b>→</b> arrow keys
to catch it. Each catch scores a point; each miss loses one.</p>
"""

FEEDBACK = """
<p><label>How hard was the game?
<select name="difficulty" required data-testid="difficulty">
  <option value="">choose…</option><option>easy</option><option>just right</option><option>hard</option>
</select></label></p>
<p><label>Any comments?<br><textarea name="comments" rows="3" cols="50" data-testid="comments"></textarea></label></p>
"""


def _hud(info: HudInfo) -> str:
    score = sum(info.returns.values())
    return f"Round {info.episode} of {info.num_episodes}   ·   Score {score:+.0f}"


def make_catch_scene(scene_id: str = "catch", *, num_episodes: int = 2, fps: int = 20, max_drops: int = 5) -> GymScene:
    """The demo's game scene: Catch played with the arrow keys."""
    return (
        GymScene()
        .scene(scene_id)
        .environment(env_creator=CatchEnv, env_config={"max_drops": max_drops}, seed=7)
        .rendering(fps=fps, game_width=600, game_height=400, background="#eaf2ff", hud=_hud)
        .gameplay(
            action_mapping={"ArrowLeft": 1, "ArrowRight": 2},
            default_action=0,
            num_episodes=num_episodes,
            max_steps=1000,
            input_mode="pressed_keys",
            reset_freeze_s=1,
        )
        .policies(policy_mapping={"player": "human"})
        .content(
            scene_header="Catch",
            scene_body="<p>Press <b>Start</b> when you are ready, then use the arrow keys.</p>",
        )
    )


def make_demo_experiment(data_dir: str | os.PathLike[str] = "data", **catch_options: int) -> Experiment:
    """Build the demo experiment (``mug demo`` serves it)."""
    return Experiment(
        "mug-demo",
        scenes=[
            StartScene().scene("consent").display(scene_header="Welcome", scene_body=CONSENT),
            StaticScene().scene("instructions").display(scene_header="How to play", scene_body=INSTRUCTIONS),
            make_catch_scene(**catch_options),
            StaticScene().scene("feedback").display(scene_header="A few questions", scene_body=FEEDBACK),
            CompletionCodeScene().scene("end"),
        ],
        data_dir=data_dir,
        title="MUG demo",
    )
