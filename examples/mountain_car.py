"""Mountain Car, played in the participant's browser: a single-player classic-control task.

The env (examples/mountain_car_env.py, pure Python) runs in Pyodide in a Web Worker of the
participant's page; every step is sent back to the server as records. Three episodes of up to
600 steps; the left and right arrow keys push the car.

    mug serve examples/mountain_car.py
"""

from __future__ import annotations

from pathlib import Path

import mug

HERE = Path(__file__).resolve().parent

INSTRUCTIONS = """
<p>Drive the red car up to the flag on the right hill. Its engine is too weak to climb straight
up: rock back and forth with <b>←</b> and <b>→</b> to build up speed.</p>
<p>You have three tries of at most 20 seconds each.</p>
"""

game = (
    mug.GymScene()
    .scene("mountain_car")
    .runtime(env_code_filepath=str(HERE / "mountain_car_env.py"))
    .rendering(fps=30, game_width=600, game_height=400, hud="← and → push the car")
    .gameplay(
        action_mapping={"ArrowLeft": 0, "ArrowRight": 2},
        default_action=1,
        num_episodes=3,
        max_steps=600,
        input_mode="pressed_keys",
        reset_freeze_s=1,
    )
    .policies(policy_mapping={"car": "human"})
    .environment(seed=11)
    .content(scene_header="Mountain Car", scene_body="<p>Press <b>Start</b> when you are ready.</p>")
)

experiment = mug.Experiment(
    "mountain-car",
    [
        mug.StartScene().scene("welcome").display(scene_header="Mountain Car", scene_body=INSTRUCTIONS),
        game,
        mug.CompletionCodeScene().scene("end"),
    ],
    title="Mountain Car",
)
