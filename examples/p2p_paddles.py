"""Two people play Paddles peer to peer: each browser runs the game, inputs travel over WebRTC.

Both participants' browsers run the env (Pyodide) and exchange only their key presses; rollback
netcode hides the latency between them (docs/p2p.md). The server matches them, relays the WebRTC
handshake, carries the inputs itself when no direct channel opens, and records both peers' steps
(``results().episodes.parity`` says whether the two records agree).

Across the internet, browsers behind NATs need a STUN/TURN server; name yours in the environment
(nothing contacts a third party unless you do):

    MUG_TURN_URL=turn:turn.example.org:3478 MUG_TURN_USERNAME=... MUG_TURN_CREDENTIAL=... \\
        mug serve examples/p2p_paddles.py

Without them the browsers try their own addresses (enough on one network) and fall back to the
server relay. ``MUG_FORCE_RELAY=1`` makes them use the TURN relay only.
"""

from __future__ import annotations

import os

import mug

ENV_CODE = """
from mug.env.examples import PaddlesEnv

env = PaddlesEnv(points_to_win=3)
"""

game = (
    mug.GymScene()
    .scene("paddles")
    .runtime(env_code=ENV_CODE)
    .multiplayer(mode="p2p", input_delay=2)
    .policies(policy_mapping={"left": "human", "right": "human"})
    .rendering(fps=30, game_width=500, game_height=300, hud="↑ and ↓ move your paddle")
    .gameplay(action_mapping={"ArrowUp": 1, "ArrowDown": 2}, default_action=0, num_episodes=2, max_steps=900)
    .waitroom(timeout=300)
    .environment(seed=21)
    .content(
        scene_header="Paddles",
        scene_body="<p>You will play against another participant. Press <b>Start</b> to find a partner.</p>",
    )
)

if os.environ.get("MUG_TURN_URL"):
    game.webrtc(
        turn_url=os.environ["MUG_TURN_URL"],
        turn_username=os.environ.get("MUG_TURN_USERNAME"),
        turn_credential=os.environ.get("MUG_TURN_CREDENTIAL"),
        force_relay=os.environ.get("MUG_FORCE_RELAY", "0") == "1",
    )

experiment = mug.Experiment(
    "p2p-paddles",
    [
        mug.StartScene()
        .scene("welcome")
        .display(scene_header="Paddles", scene_body="<p>A two-player game of paddles, about three minutes.</p>"),
        game,
        mug.CompletionCodeScene().scene("end"),
    ],
    title="Paddles",
)
