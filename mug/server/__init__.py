"""The participant server: Tornado + python-socketio on its own thread and event loop."""

from mug._bundle import ClientNotBuiltError
from mug.server.runner import ServerHandle, start_server

__all__ = ["ClientNotBuiltError", "ServerHandle", "start_server"]
