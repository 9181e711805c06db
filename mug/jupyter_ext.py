"""Jupyter server extension: low-latency websockets through jupyter-server-proxy.

jupyter-server-proxy relays a proxied websocket over two TCP connections (browser → Jupyter server,
Jupyter server → MUG server) and leaves Nagle's algorithm on for both, so every small Socket.IO
message can wait for a delayed ACK: ~40 ms per round trip instead of ~1 ms. This extension turns
``TCP_NODELAY`` on for both legs of every websocket the proxy opens. It changes nothing else, and
does nothing when jupyter-server-proxy is not installed.

Installing mug-py enables it (``etc/jupyter/jupyter_server_config.d/mug.json``). To turn it off::

    jupyter server extension disable mug.jupyter_ext
"""

from __future__ import annotations

import functools
import logging
from typing import Any

log = logging.getLogger("mug.jupyter_ext")

_PATCHED = "_mug_nodelay"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "mug.jupyter_ext"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    applied = patch_proxy_nodelay()
    message = (
        "MUG: TCP_NODELAY on for websockets proxied by jupyter-server-proxy"
        if applied
        else "MUG: jupyter-server-proxy not found; nothing to do"
    )
    serverapp.log.info(message)


def patch_proxy_nodelay() -> bool:
    """Make jupyter-server-proxy open its websockets with ``TCP_NODELAY`` on both legs (idempotent).

    Returns False when jupyter-server-proxy is not installed or its handler has no ``proxy_open``.
    """
    try:
        from jupyter_server_proxy.handlers import ProxyHandler
    except ImportError:
        return False
    original = getattr(ProxyHandler, "proxy_open", None)
    if original is None:
        log.warning("MUG: jupyter_server_proxy.handlers.ProxyHandler has no proxy_open; websockets keep Nagle on")
        return False
    if getattr(original, _PATCHED, False):
        return True

    @functools.wraps(original)
    async def proxy_open(self: Any, *args: Any, **kwargs: Any) -> Any:
        _nodelay_server_side(self)
        result = await original(self, *args, **kwargs)
        _nodelay_client_side(getattr(self, "ws", None))
        return result

    setattr(proxy_open, _PATCHED, True)
    ProxyHandler.proxy_open = proxy_open  # type: ignore[method-assign]
    return True


def _nodelay_server_side(handler: Any) -> None:
    """The browser → Jupyter leg: the handler's own websocket connection."""
    try:
        handler.set_nodelay(True)
    except Exception:  # the connection closed meanwhile; nothing to speed up
        log.debug("MUG: set_nodelay on the proxy's websocket failed", exc_info=True)


def _nodelay_client_side(ws: Any) -> None:
    """The Jupyter → MUG server leg: the proxy's websocket client connection."""
    if ws is None:
        return
    stream = getattr(getattr(ws, "protocol", None), "stream", None) or getattr(ws, "stream", None)
    if stream is None:
        return
    try:
        stream.set_nodelay(True)
    except Exception:
        log.debug("MUG: set_nodelay on the proxy's backend websocket failed", exc_info=True)


# Older Jupyter servers look for these names.
load_jupyter_server_extension = _load_jupyter_server_extension
_jupyter_server_extension_paths = _jupyter_server_extension_points
