"""Where the built browser client lives, for the server and the notebook widgets alike."""

from __future__ import annotations

from pathlib import Path

CLIENT_DIST = Path(__file__).resolve().parent / "client" / "dist"


class ClientNotBuiltError(RuntimeError):
    """The browser client bundle is missing (the package was installed without building it)."""


def client_dist() -> Path:
    """The folder of built client assets, or a clear error saying how to build it."""
    if not (CLIENT_DIST / "app.js").is_file():
        raise ClientNotBuiltError(
            f"The MUG browser client is not built ({CLIENT_DIST / 'app.js'} is missing). "
            "Reinstall with `pip install -e .` (needs Node.js >= 20 and npm), or run "
            "`npm ci && npm run build` in mug/client."
        )
    return CLIENT_DIST
