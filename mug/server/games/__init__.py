"""Server-run games: the game loop, its tick schedule, where its env steps, and how its steps are recorded.

- `game` — `ServerGame`: one GymScene stepped at its fps with every player's latest action.
- `players` — a game's players: their actions, drops and returns (`check_action`, `game_snapshot`).
- `frames` — what a game sends its pages: diffed render states, HUD text, status.
- `handle` — `GameHandle`: what the session layer may do with a game, wherever it runs.
- `ticks` — tick phase slots, so games do not all wake at once.
- `placement` — whether an env steps on the event loop or a worker thread.
- `recorder` — step rows batched into one commit every fraction of a second.
- `processes` — the same games in forked game processes (`serve(game_processes=N)`).
"""
