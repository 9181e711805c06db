"""``server.monitor()``: a live view of a running server in the notebook.

The server's own loop pushes a snapshot (``mug.server.monitoring``) into the widget about twice a
second, so the monitor keeps updating while other cells run and the kernel's main thread never
polls. Closing the widget stops its updates; stopping the server leaves the last picture, marked
"server stopped".
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from mug.widgets._esm import require_widgets, widget_module

require_widgets()

import anywidget  # noqa: E402
import traitlets  # noqa: E402

if TYPE_CHECKING:
    from mug.server import ServerHandle
    from mug.server.monitoring import MonitorFeed

__all__ = ["MonitorWidget"]


class MonitorWidget(anywidget.AnyWidget):  # type: ignore[misc]
    """Participants (scene, connection, ping), games, waitrooms and exclusions of a running server."""

    _esm = widget_module("monitor")

    title = traitlets.Unicode("").tag(sync=True)
    direct_url = traitlets.Unicode("").tag(sync=True)
    proxy_path = traitlets.Unicode("").tag(sync=True)
    #: The latest snapshot (see ``ServerHandle.snapshot()``).
    snapshot = traitlets.Dict().tag(sync=True)

    def __init__(self, server: ServerHandle, interval: float = 0.5) -> None:
        if not 0.05 <= interval <= 1.0:
            raise ValueError(f"monitor: interval must be between 0.05 and 1 second, got {interval!r}")
        urls = server.urls
        super().__init__(
            title=f"MUG · {server.experiment.experiment_id}",
            direct_url=urls.direct,
            proxy_path=urls.proxy_path or "",
        )
        self.server = server
        self._lock = threading.Lock()
        self._feed: MonitorFeed | None = None
        self.snapshot = server.snapshot()
        if server.running:
            self._feed = server.feed(self._push, interval=interval)

    def _push(self, snap: dict[str, Any]) -> None:
        # Called on the server's loop thread; the lock keeps it from interleaving with close().
        with self._lock:
            if self.comm is not None:
                self.snapshot = snap

    def close(self) -> None:
        """Stop updating and close the widget (the server keeps running)."""
        # (Also called by ipywidgets' __del__ on a widget whose __init__ refused its arguments,
        # before these attributes were set.)
        feed = self.__dict__.get("_feed")
        if feed is not None:
            feed.stop()
            self._feed = None
        lock = self.__dict__.get("_lock")
        if lock is None:
            super().close()
            return
        with lock:
            super().close()

    def __repr__(self) -> str:
        return f"<MUG monitor of {self.server!r}>"
