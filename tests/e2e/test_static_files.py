"""`Experiment.static_files`: the researcher's images in scene HTML, and nothing outside their folder."""

from __future__ import annotations

import http.client
import os
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from helpers import wait_for

from mug import EndScene, Experiment, StartScene, StaticScene
from mug.env.png import encode_png
from mug.scenes import SceneConfigError


def raw_get(url: str, path: str) -> int:
    """The status of GET `path` sent exactly as written (no client-side normalisation of `..`)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        reply.read()
        return reply.status
    finally:
        conn.close()


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """A researcher's folder with a 24x16 image, a file in a subfolder, and traps around it."""
    folder = tmp_path / "media"
    (folder / "sub").mkdir(parents=True)
    image = np.zeros((16, 24, 3), dtype=np.uint8)
    image[:, :, 0] = 200
    (folder / "cue.png").write_bytes(encode_png(image))
    (folder / "sub" / "note.txt").write_text("inside")
    (folder / ".env").write_text("SECRET=1")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", folder / "link-out.txt")
    os.symlink(folder / "sub" / "note.txt", folder / "link-in.txt")
    return folder


def study(media: Path) -> Experiment:
    body = '<p>Look at this:</p><img data-testid="cue" src="files/cue.png" alt="cue">'
    exp = Experiment(
        "files",
        [
            StartScene().scene("hello").display(scene_header="Hello"),
            StaticScene().scene("instructions").display(scene_header="Instructions", scene_body=body),
            EndScene().scene("bye"),
        ],
    )
    return exp.static_files(media)


def test_an_image_in_an_instruction_page_loads(serve, participant, media: Path) -> None:
    server = serve(study(media))
    page = participant(server.url + "?participant=viewer")
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.sceneId === 'instructions' && m.status === 'ready'")
    page.wait_for_function("() => { const i = document.querySelector('[data-testid=cue]'); return i && i.complete; }")
    size = page.evaluate(
        "() => { const i = document.querySelector('[data-testid=cue]'); return [i.naturalWidth, i.naturalHeight]; }"
    )
    assert size == [24, 16]


def test_nothing_outside_the_folder_is_reachable(serve, media: Path) -> None:
    server = serve(study(media))
    url = server.url
    assert raw_get(url, "/files/cue.png") == 200
    assert raw_get(url, "/files/sub/note.txt") == 200
    assert raw_get(url, "/files/link-in.txt") == 200  # a symlink that stays inside is a file like others
    for path in (
        "/files/../secret.txt",
        "/files/sub/../../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/%2E%2E%2Fsecret.txt",
        "/files/sub%2F..%2F..%2Fsecret.txt",
        "/files/..%5Csecret.txt",
        "/files/%252e%252e/secret.txt",
        "/files/" + "%2e%2e/" * 8 + "etc/passwd",
        "/files//etc/passwd",
        "/files/link-out.txt",  # a symlink leading out
        "/files/.env",  # hidden names
        "/files/sub",  # a folder
        "/files/",
        "/files/cue.png%00.txt",
        "/files/missing.png",
    ):
        assert raw_get(url, path) == 404, path


def test_static_files_checks_its_arguments(tmp_path: Path, media: Path) -> None:
    exp = study(media)
    with pytest.raises(SceneConfigError, match="is not a directory"):
        exp.static_files(tmp_path / "nope")
    with pytest.raises(SceneConfigError, match="taken by the server itself"):
        exp.static_files(media, url="admin")
    with pytest.raises(SceneConfigError, match="relative path of letters"):
        exp.static_files(media, url="../up")
    with pytest.raises(SceneConfigError, match="already serves"):
        exp.static_files(tmp_path, url="files")
    assert exp.static_files(media / "sub", url="media/notes") is exp
    assert exp.file_dirs["media/notes"] == (media / "sub").resolve()
