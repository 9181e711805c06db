"""Participants' sessions: who is connected, where each is in the scene flow, and what the server takes from them.

- `sessions` — `Sessions`: connections and the scene flow.
- `server_games` — server-run games, for one participant or a matched group: started, and their ends applied.
- `texts` — what a participant reads when their game ends early.
- `interruptions` — games a stopped server cut off: closed, their players told and moved on.
- `binding` — a session belongs to the browser that started it.
- `browser_games` — client-side games: started, recorded, verified.
- `intake` — what a page may send (record kinds, quotas: `ClientLimits`).
- `refusals` — what was refused, counted and summarised in the data.
- `waitroom` — grouping participants for a multiplayer game.
"""

from mug.server.sessions.intake import ClientLimits
from mug.server.sessions.sessions import Sessions

__all__ = ["ClientLimits", "Sessions"]
