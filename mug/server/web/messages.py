"""One definition of the messages a page sends the server: the fields of each event, and their types.

The Python validators (`mug.server.web.protocol`) take each event's allowed fields and size limit
from here, and the page's TypeScript types are generated from here into
``mug/client/src/messages.ts`` (``python -m mug.server.web.messages`` writes it; a test fails when the
checked-in file is not what this module generates). The page's `Connection.request`/`send` accept
only these payloads, so the TypeScript compiler checks every call site against the same
definition the server validates with. docs/protocol.md describes the same messages for people.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CLIENT_MESSAGES", "SERVER_EVENTS", "TS_PATH", "Field", "Message", "typescript"]


@dataclass(frozen=True)
class Field:
    """A payload field: its TypeScript type (the Python validator checks the same) and whether it is required."""

    ts: str
    required: bool = True


@dataclass(frozen=True)
class Message:
    """A client → server event: its payload's fields, its size limit (bytes of JSON), whether it is acknowledged."""

    fields: dict[str, Field]
    limit: int
    ack: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.fields)


CLIENT_MESSAGES: dict[str, Message] = {
    "join": Message(
        {
            "participant_id": Field("string | null", required=False),
            "query": Field("{ [name: string]: string }", required=False),
            "secret": Field("string | null", required=False),
            "seen": Field("{ game_id: string; episode: number; step: number } | null", required=False),
        },
        limit=16_384,
    ),
    "advance": Message(
        {
            "scene_id": Field("string"),
            "answers": Field("{ [field: string]: string | number | boolean | string[] | null }", required=False),
            "game_id": Field("string", required=False),
            "outcome": Field('"done" | "error"', required=False),
        },
        limit=65_536,
    ),
    "start_game": Message({"scene_id": Field("string")}, limit=1_024),
    "leave": Message({"scene_id": Field("string"), "url": Field("string")}, limit=4_096),
    "action": Message({"scene_id": Field("string"), "action": Field("Json")}, limit=2_048, ack=False),
    "ping": Message({"t": Field("number"), "rtt": Field("number | null", required=False)}, limit=256),
    "client_event": Message(
        {
            "kind": Field('"focus" | "blur" | "visibility" | "log" | "resize"'),
            "data": Field("{ [key: string]: Json }", required=False),
        },
        limit=8_192,
        ack=False,
    ),
    "client_records": Message(
        {
            "source": Field("string"),
            "records": Field(
                '{ seq: number; kind: "step" | "episode" | "event"; payload: { [key: string]: unknown } }[]'
            ),
        },
        limit=1_000_000,
    ),
    # P2P games (mug.server.sessions.p2p): signaling for the WebRTC mesh, the relay fallback, status.
    "p2p_signal": Message(
        {
            "game_id": Field("string"),
            "to": Field("number"),
            "signal": Field('{ kind: "offer" | "answer" | "candidate" | "restart"; data: Json }'),
        },
        limit=16_384,
        ack=False,
    ),
    "p2p_relay": Message(
        {"game_id": Field("string"), "packets": Field("{ to: number; data: string }[]")},
        limit=40_000,
        ack=False,
    ),
    "p2p_probe_result": Message(
        {"game_id": Field("string"), "peers": Field("{ peer: number; rtt_ms: number | null }[]")},
        limit=1_024,
    ),
    "p2p_status": Message(
        {
            "game_id": Field("string"),
            "frame": Field("number"),
            "peers": Field(
                '{ peer: number; transport: "connecting" | "direct" | "turn" | "server"; rtt_ms: number | null }[]'
            ),
            "rollbacks": Field("number"),
            "max_rollback": Field("number"),
            "predicted_frames": Field("number"),
            "frames": Field("number"),
            "desyncs": Field("number"),
        },
        limit=4_096,
        ack=False,
    ),
}

#: Events the server sends pages (their payloads: docs/protocol.md, mug/client/src/protocol.ts).
SERVER_EVENTS: tuple[str, ...] = (
    "scene",
    "frame",
    "game_status",
    "waitroom",
    "matched",
    "error",
    "session_replaced",
    "p2p_signal",
    "p2p_relay",
    "p2p_peer_left",
    "p2p_peer_back",
    "p2p_probe",
    "monitor_warning",
)

TS_PATH = Path(__file__).resolve().parents[2] / "client" / "src" / "messages.ts"


def typescript() -> str:
    """The TypeScript module the page's code imports (``mug/client/src/messages.ts``)."""
    lines = [
        "// Generated from mug/server/web/messages.py by `python -m mug.server.web.messages`: do not edit by hand.",
        "// The payload of every event a page sends the server; the server validates the same fields.",
        "",
        'import type { Json } from "./protocol";',
        "",
        "export interface ClientMessages {",
    ]
    for event, message in CLIENT_MESSAGES.items():
        fields = "; ".join(f"{name}{'' if f.required else '?'}: {f.ts}" for name, f in message.fields.items())
        lines.append(f"  {event}: {{ {fields} }};")
    lines += [
        "}",
        "",
        "/** Events answered with an acknowledgement (`Connection.request`). */",
        "export type AckedEvent = " + " | ".join(f'"{e}"' for e, m in CLIENT_MESSAGES.items() if m.ack) + ";",
        "/** Events sent without one (`Connection.send`). */",
        "export type UnackedEvent = " + " | ".join(f'"{e}"' for e, m in CLIENT_MESSAGES.items() if not m.ack) + ";",
        "",
        "/** Events the server sends pages. */",
        "export const SERVER_EVENTS = [" + ", ".join(f'"{e}"' for e in SERVER_EVENTS) + "] as const;",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m mug.server.web.messages [--check]
    text = typescript()
    if "--check" in sys.argv[1:]:
        current = TS_PATH.read_text() if TS_PATH.exists() else ""
        sys.exit(0 if current == text else f"{TS_PATH} is not what mug/server/web/messages.py generates")
    TS_PATH.write_text(text)
    print(f"wrote {TS_PATH}")
