"""The server serves a scene's declared sprite images at assets/<scene id>/<key>, and nothing else."""

from __future__ import annotations

import urllib.error
import urllib.request

from envs import walk_scene
from sprites import RED, solid_cells

from mug import Experiment, StartScene


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_only_declared_images_are_served_with_their_type(tmp_path) -> None:
    art = tmp_path / "art"
    art.mkdir()
    png = solid_cells(art / "chef.png", [RED], cell=4)
    (art / "secret.txt").write_text("not for participants")
    scene = walk_scene("walk").assets(images={"chef": png})
    exp = Experiment("assets", [StartScene().scene("hello"), scene], data_dir=tmp_path / "data")
    with exp.serve() as server:
        base = f"http://127.0.0.1:{server.port}"
        status, headers, body = fetch(base + "/assets/walk/chef")
        assert (status, headers["Content-Type"], body) == (200, "image/png", png.read_bytes())
        assert headers["Cache-Control"] == "no-cache"
        for path in [
            "/assets/walk/secret.txt", "/assets/walk/chef.png", "/assets/hello/chef", "/assets/walk/../walk/chef",
            "/assets/walk/%2e%2e/art/secret.txt", "/assets/walk/", "/assets/", "/art/chef.png",
        ]:  # fmt: skip
            assert fetch(base + path)[0] == 404, path
        png.unlink()  # gone since the scene was defined: a 404, which the page reports
        assert fetch(base + "/assets/walk/chef")[0] == 404
