"""How MUG objects display in IPython / Jupyter (registered by ``import mug`` inside IPython).

* a scene as the last expression of a cell plays in the output cell (a preview widget);
* a server handle shows its participant URL as a link that works from the notebook's browser;
* results show their counts, plots (matplotlib) and a table per participant.

Nothing heavy is imported here: anywidget, ipywidgets and matplotlib load when an object is shown.
"""

from __future__ import annotations

import html
import logging
from typing import Any

log = logging.getLogger("mug.widgets")

_registered: set[int] = set()


def register(shell: Any) -> None:
    """Register MUG's display formatters on an IPython shell (idempotent)."""
    if id(shell) in _registered:
        return
    formatters = shell.display_formatter.formatters
    bundle = shell.display_formatter.mimebundle_formatter
    bundle.for_type_by_name("mug.scenes.scene", "Scene", scene_bundle)
    formatters["text/html"].for_type_by_name("mug.server.runner", "ServerHandle", server_html)
    formatters["text/html"].for_type_by_name("mug.data.results", "Results", results_html)
    _registered.add(id(shell))


def scene_bundle(scene: Any) -> Any:
    """The mime bundle of a scene: a preview widget playing it, or why it cannot play yet."""
    from mug.scenes import SceneConfigError

    try:
        from mug.widgets.preview import preview

        widget = preview(scene)
    except SceneConfigError as exc:
        text = f"{scene!r}: not playable yet: {exc}"
        return {"text/plain": text, "text/html": f"<div style='color:#8c1d18'>{html.escape(text)}</div>"}
    except ImportError as exc:
        return {"text/plain": f"{scene!r} ({exc})"}
    return widget._repr_mimebundle_()


def server_html(server: Any) -> str:
    """A server handle as a link to its participant page (resolved by the notebook's browser)."""
    urls = server.urls  # (the handle's: widgets use the server only through it)
    name = html.escape(str(server.experiment.experiment_id))
    if not server.running:
        return f"<div><b>MUG experiment {name}</b>: stopped</div>"
    # A relative href (the proxy path) resolves against the notebook page, so it works whatever
    # host name this browser uses for the Jupyter server.
    href = html.escape(urls.proxy_path or urls.direct)
    shown = html.escape(urls.url)
    extra = f" <span style='color:#596079'>(direct: {html.escape(urls.direct)})</span>" if urls.proxied else ""
    admin = f"admin/?token={server.admin_token}"
    return (
        f"<div><b>MUG experiment {name}</b> is running. Participants: "
        f"<a href='{href}' target='_blank' rel='noopener'>{shown}</a>{extra}<br>"
        f"Admin dashboard (keep this link private): <a href='{html.escape(href + admin)}' target='_blank' "
        f"rel='noopener noreferrer'>{html.escape(urls.url + admin)}</a><br>"
        "<span style='color:#596079'><code>server.monitor()</code> watches them; "
        "<code>server.stop()</code> ends it.</span></div>"
    )


def results_html(results: Any) -> str | None:
    """Results as counts, plots and a table per participant (None falls back to the plain repr)."""
    try:
        from mug.widgets.plots import summary_html

        return summary_html(results)
    except Exception:
        log.exception("showing results as HTML failed")
        return None
