"""HTTP and Socket.IO: the routes and files the server serves, the messages pages send and their handlers.

- `app` — the Tornado application: the participant page, assets, security headers, the Socket.IO route.
- `assets` — files served for client-side scenes (the env zip, wheels, models).
- `transport` — the Socket.IO server, writing straight to each websocket, in order.
- `rooms` — the rooms it sends to: every page of a participant, the pages of a game.
- `inbound` — the checks every packet a page sends passes before it is dispatched.
- `messages` — the one definition of the messages a page sends (the page's types are generated from it).
- `protocol` — their validation; `events` — their handlers.
"""
