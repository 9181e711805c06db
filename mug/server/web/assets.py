"""Files game scenes need, served by MUG's own server: the mug env runtime, wheels, ONNX models of
client-side scenes, and the sprite images every game scene declares in ``GymScene.assets`` (each
under ``assets/<scene id>/<key>``: only declared files are reachable, never a path)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import tornado.web

from mug.experiment import Experiment
from mug.policies import ModelConfig
from mug.scenes import GymScene
from mug.scenes.assets import ImageFile

ENV_PACKAGE = Path(__file__).resolve().parents[2] / "env"


def mug_env_zip() -> bytes:
    """A zip of ``mug/env`` (pure Python) with an empty ``mug/__init__.py``, unpacked into Pyodide.

    The full ``mug`` package needs pandas, Tornado and more; the browser needs only the env runtime.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mug/__init__.py", '"""The part of MUG that runs in the browser (mug.env)."""\n')
        for path in sorted(ENV_PACKAGE.rglob("*.py")):
            archive.write(path, f"mug/env/{path.relative_to(ENV_PACKAGE).as_posix()}")
    return buffer.getvalue()


class RuntimeFiles:
    """The URL → file table for every client-side scene of an experiment."""

    def __init__(self, experiment: Experiment) -> None:
        self.env_zip = mug_env_zip()
        self.files: dict[str, Path] = {}
        #: ``assets/<scene id>/<key>`` -> the declared image (every game scene, wherever its env runs).
        self.images: dict[str, ImageFile] = {}
        for scene in experiment.scenes:
            if isinstance(scene, GymScene) and scene.asset_options is not None:
                self.images.update(scene.asset_options.files(scene.scene_id or ""))
            if not isinstance(scene, GymScene) or scene.runtime_options is None:
                continue
            sid = scene.scene_id or ""
            for name, path in scene.runtime_options.wheels.items():
                self.files[f"wheels/{sid}/{name}"] = path
            for agent, policy in scene.policy_mapping.items():
                if isinstance(policy, ModelConfig):
                    self.files[f"models/{sid}/{agent}.onnx"] = policy.path
            # A P2P scene's AI fill-in plays the other humans' agents in the page (GymScene.filled_in).
            fill_in = scene.effective_waitroom().timeout_policy if scene.is_p2p else None
            if isinstance(fill_in, ModelConfig):
                for agent in scene.human_agents[1:]:
                    self.files[f"models/{sid}/{agent}.onnx"] = fill_in.path


class EnvZipHandler(tornado.web.RequestHandler):
    def initialize(self, files: RuntimeFiles) -> None:
        self.runtime_files = files

    def get(self) -> None:
        self.set_header("Content-Type", "application/zip")
        self.set_header("Cache-Control", "no-cache")  # Tornado adds an ETag of the content itself
        self.write(self.runtime_files.env_zip)


class RuntimeFileHandler(tornado.web.RequestHandler):
    """Serves a wheel or model listed in the table; anything else is a 404 (no path browsing)."""

    def initialize(self, files: RuntimeFiles, kind: str) -> None:
        self.runtime_files = files
        self.kind = kind

    def get(self, rest: str) -> None:
        path = self.runtime_files.files.get(f"{self.kind}/{rest}")
        if path is None or not path.is_file():
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Cache-Control", "no-cache")
        self.write(path.read_bytes())


class SceneAssetHandler(tornado.web.RequestHandler):
    """Serves a sprite image a scene declared (``assets/<scene id>/<key>``); anything else is a 404.

    The file is read on each request (a researcher may redraw it while piloting; revalidated, as
    Tornado adds an ETag of the content). A file gone since the scene was defined is a 404, which
    the page reports as an asset that failed to load.
    """

    def initialize(self, files: RuntimeFiles) -> None:
        self.runtime_files = files

    def get(self, rest: str) -> None:
        image = self.runtime_files.images.get(f"assets/{rest}")
        if image is None:
            raise tornado.web.HTTPError(404)
        try:
            data = image.path.read_bytes()
        except OSError:
            raise tornado.web.HTTPError(404) from None
        self.set_header("Content-Type", image.content_type)
        self.set_header("Cache-Control", "no-cache")
        self.write(data)
