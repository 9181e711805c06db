"""One experiment on several server processes: the state they share and the messages between them.

A single server keeps its participants' connections, waitrooms and games in its own memory and
its data in SQLite. Several servers of one experiment (``mug serve --redis URL --database URL``,
docs/deploy.md) share what must be seen by all of them through two seams, each with an in-process
backend (the default: one server, nothing to install) and a Redis one:

* `mug.server.cluster.state` — small shared state: which servers are alive, which server runs
  which game, short leases (one server at a time does a job);
* `mug.server.cluster.bus` — messages addressed to one server (its channel), in order.

`mug.server.cluster.members` uses both: each server announces itself while it lives, and the
games of a server that stopped announcing (killed, its machine gone) are closed in the store as
``interrupted`` by one of the others.
"""

from mug.server.cluster.bus import Bus, LocalBus, RedisBus
from mug.server.cluster.state import LocalState, RedisState, SharedState, StateError, open_state

__all__ = ["Bus", "LocalBus", "LocalState", "RedisBus", "RedisState", "SharedState", "StateError", "open_state"]
