"""What a participant reads when their game ends early: one wording, whichever kind of game it was.

Server-run games (`mug.server.sessions.server_games`), P2P games (`mug.server.sessions.p2p`) and
the scene flow end a session with the same messages, so a participant reads the same words for
the same event; and the modules that use them need not import each other for it.
"""

from __future__ import annotations

__all__ = ["AWAY_TOO_LONG", "GAME_ERROR", "PARTNER_LEFT"]

PARTNER_LEFT = "Your partner left the game, so it could not go on. Thank you for taking part."
AWAY_TOO_LONG = "You were away from the game for too long, so it ended for you. Thank you for taking part."
GAME_ERROR = "The game stopped because of an error. Your data so far is saved."
