"""Sprite assets in Chromium: the textures a scene declares in GymScene.assets() are preloaded and
drawn (canvas pixels read back at known places), in a server-run game and a client-side one; an
image that fails to load is said in the page and recorded; a sprite naming an undeclared texture is
said too; the HUD's score carries over into episode 2 with rendering(hud_score_carry_over=True)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import eventually, wait_for
from sprites import BLUE, GREEN, RED, YELLOW, atlas_json, solid_cells

from mug import CompletionCodeScene, Experiment, GymScene, StartScene

# Drawn on a 200x100 canvas: four 50x50 sprites on the top row, two on the bottom row.
SPRITES_ENV = """
from mug.env import Surface
from mug.env.spaces import Discrete


class Sprites:
    def __init__(self, length=100000, texture=None):
        self.length, self.texture = length, texture
        self.action_space = Discrete(2)
        self.surface = Surface(200, 100)

    def reset(self, seed=None, options=None):
        self.t = 0
        return [0], {}

    def step(self, action):
        self.t += 1
        return [self.t], float(action), self.t >= self.length, False, {}

    def render(self):
        s = self.surface
        if self.texture is not None:
            s.sprite(0, 0, 0.25, 0.5, texture=self.texture, id="odd")
            return s.commit()
        s.sprite(0, 0, 0.25, 0.5, texture="tiles", frame=2, id="sheet")              # blue
        s.sprite(0.25, 0, 0.25, 0.5, texture="kitchen", frame=0, id="by-index")      # red
        s.sprite(0.5, 0, 0.25, 0.5, texture="kitchen", frame="green", id="by-name")  # green
        s.sprite(0.75, 0, 0.25, 0.5, texture="chef", id="image")                     # yellow
        s.sprite(0, 0.5, 0.5, 0.5, texture="halves", angle=180, id="turned")         # red|blue, turned
        s.sprite(0.5, 0.5, 0.25, 0.5, texture="blink", id="blinking")               # red, yellow, ...
        return s.commit()
"""


def sprites_class() -> type:
    namespace: dict = {}
    exec(compile(SPRITES_ENV, "sprites_env", "exec"), namespace)
    return namespace["Sprites"]


def art(folder: Path) -> Path:
    folder.mkdir()
    solid_cells(folder / "sheet.png", [RED, GREEN, BLUE, YELLOW], cell=8, columns=2)
    solid_cells(folder / "chef.png", [YELLOW], cell=4)
    solid_cells(folder / "halves.png", [RED, BLUE], cell=8)
    atlas_json(folder / "kitchen.json", {"red": (0, 0, 8, 8), "green": (8, 0, 8, 8)})
    return folder


def with_assets(scene: GymScene, folder: Path) -> GymScene:
    return scene.assets(
        assets_dir=folder,
        images={"chef": "chef.png", "halves": "halves.png"},
        spritesheets={"tiles": {"path": "sheet.png", "frame_width": 8, "frame_height": 8}},
        atlases={"kitchen": {"image": "sheet.png", "json": "kitchen.json"}},
        animations={"blink": {"texture": "tiles", "frames": [0, 3], "frame_rate": 4, "repeat": True}},
    )


def server_scene(folder: Path, **env_config) -> GymScene:
    scene = (
        GymScene()
        .scene("sprites")
        .environment(env_creator=sprites_class(), env_config=env_config, seed=1)
        .rendering(fps=20, game_width=200, game_height=100, background="#000000")
        .gameplay(action_mapping={"ArrowRight": 1}, default_action=0)
        .policies(policy_mapping={"player": "human"})
    )
    return with_assets(scene, folder)


def browser_scene(folder: Path) -> GymScene:
    scene = (
        GymScene()
        .scene("sprites")
        .runtime(env_code=SPRITES_ENV + "\nenv = Sprites()\n")
        .rendering(fps=20, game_width=200, game_height=100, background="#000000")
        .gameplay(action_mapping={"ArrowRight": 1}, default_action=0)
        .policies(policy_mapping={"player": "human"})
    )
    return with_assets(scene, folder)


def experiment(game: GymScene) -> Experiment:
    return Experiment("sprites", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])


def start(page) -> None:
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.sceneId === 'sprites' && m.status === 'waiting_start'")
    page.get_by_test_id("start-game").click()


PIXEL = """([x, y, want]) => {
  const canvas = document.querySelector('[data-testid="game"] canvas');
  if (!canvas) return false;
  const [r, g, b] = canvas.getContext('2d').getImageData(x, y, 1, 1).data;
  window.__lastPixel = [r, g, b];
  return Math.abs(r - want[0]) < 40 && Math.abs(g - want[1]) < 40 && Math.abs(b - want[2]) < 40;
}"""


def wait_pixel(page, x: int, y: int, color: tuple[int, int, int], timeout: float = 20_000) -> None:
    """Wait until the game canvas shows `color` at (x, y); fail naming the colour it shows."""
    try:
        page.wait_for_function(PIXEL, arg=[x, y, list(color)], timeout=timeout)
    except Exception:
        shown = page.evaluate("window.__lastPixel")
        raise AssertionError(f"pixel ({x}, {y}) is {shown}, expected {color}") from None


def assert_sprites_drawn(page) -> None:
    wait_pixel(page, 25, 25, BLUE)  # sprite sheet frame 2
    wait_pixel(page, 75, 25, RED)  # atlas frame by index
    wait_pixel(page, 125, 25, GREEN)  # atlas frame by name
    wait_pixel(page, 175, 25, YELLOW)  # a plain image
    wait_pixel(page, 25, 75, BLUE)  # red|blue turned 180 degrees: blue on the left
    wait_pixel(page, 75, 75, RED)
    wait_pixel(page, 125, 75, RED)  # the animation shows its frames in turn, and loops
    wait_pixel(page, 125, 75, YELLOW)
    wait_pixel(page, 125, 75, RED)


def test_a_server_run_game_draws_its_sprite_sheet_atlas_image_and_animation(serve, participant, tmp_path) -> None:
    server = serve(experiment(server_scene(art(tmp_path / "art"))))
    page = participant(server.url)
    wait_for(page, "m.sceneId === 'hello'")
    page.get_by_test_id("continue").click()
    # the images load while the intro shows, and the page says how far it is
    wait_for(page, "m.assets && m.assets.state === 'ready' && m.assets.loaded === 4 && m.assets.total === 4")
    page.get_by_test_id("start-game").click()
    wait_for(page, "m.status === 'running' && m.render.framesApplied > 2")
    assert_sprites_drawn(page)
    assert page.evaluate("window.mug.render.errors") == 0
    assert page.get_by_test_id("asset-error").text_content() == ""


def test_a_client_side_game_draws_the_same_sprites(serve, participant, tmp_path) -> None:
    server = serve(experiment(browser_scene(art(tmp_path / "art"))))
    page = participant(server.url)
    start(page)
    wait_for(page, "m.status === 'running' && m.render.framesApplied > 2", timeout=60_000)
    assert_sprites_drawn(page)
    assert page.evaluate("window.mug.render.errors") == 0


@pytest.mark.parametrize("breakage", ["garbage", "route404"])
def test_an_image_that_fails_to_load_is_said_and_recorded(serve, participant, tmp_path, breakage) -> None:
    folder = art(tmp_path / "art")
    exp = experiment(server_scene(folder))
    server = serve(exp)
    if breakage == "garbage":
        (folder / "chef.png").write_bytes(b"this is no longer a picture")  # changed after the scene was defined
    page = participant(server.url)
    if breakage == "route404":
        page.route("**/assets/sprites/tiles", lambda route: route.fulfill(status=404, body="gone"))
    wait_for(page, "m.sceneId === 'hello'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.assets && m.assets.state === 'error'")
    page.get_by_test_id("start-game").click()
    wait_for(page, "m.status === 'error'")
    key = "chef" if breakage == "garbage" else "tiles"
    text = page.get_by_test_id("asset-error").text_content() or ""
    assert "The game's images could not be loaded" in text and f"'{key}'" in text
    assert page.evaluate("window.mug.game") is None  # no game was started with a missing picture

    def logged():
        events = server.results(include_idle=True).events
        rows = events[(events["kind"] == "client_log") & (events["data.type"] == "asset")]
        return rows.iloc[0]["data.message"] if len(rows) else None

    message = eventually(logged)
    assert message == f"the image '{key}' (assets/sprites/{key}) could not be loaded"


def test_a_sprite_with_an_undeclared_texture_fails_the_server_run_game_naming_it(serve, participant, tmp_path) -> None:
    exp = experiment(server_scene(art(tmp_path / "art"), texture="cook"))
    server = serve(exp)
    page = participant(server.url)
    start(page)
    # checked in Python at the episode's first frame: the game ends on an env error, which is said
    wait_for(page, "m.sceneId === 'end'")
    assert "The game stopped because of an error" in page.inner_text("body")
    events = exp.results().events
    error = events[events["kind"] == "env_error"].iloc[0]["data.error"]
    assert "sprite texture 'cook' was not declared in GymScene.assets()" in error
    assert "(declared: 'chef', 'halves', 'tiles', 'kitchen', 'blink')" in error


def test_a_sprite_with_an_undeclared_texture_is_said_in_the_page_of_a_client_side_game(
    serve, participant, tmp_path
) -> None:
    scene = browser_scene(art(tmp_path / "art"))
    scene.runtime(env_code=SPRITES_ENV + "\nenv = Sprites(texture='cook')\n")
    server = serve(experiment(scene))
    page = participant(server.url)
    start(page)
    wait_for(page, "m.assets && m.assets.state === 'error'", timeout=60_000)
    text = page.get_by_test_id("asset-error").text_content() or ""
    assert "sprite texture 'cook' was not declared in GymScene.assets()" in text
    assert "'chef', 'halves', 'tiles', 'kitchen', 'blink'" in text


HUD_ENV = """
from mug.env import Surface
from mug.env.spaces import Discrete


class Scorer:
    # Every step scores 1: an episode of 5 steps scores 5.
    def __init__(self):
        self.action_space = Discrete(2)
        self.surface = Surface(200, 100)

    def reset(self, seed=None, options=None):
        self.t = 0
        return [0], {}

    def step(self, action):
        self.t += 1
        return [self.t], 1.0, self.t >= 5, False, {}

    def render(self):
        self.surface.rect(0, 0, 1, 1, fill="#ffffff", id="bg")
        return self.surface.commit()
"""


@pytest.mark.parametrize("where", ["server", "browser"])
def test_the_hud_score_carries_over_into_episode_two(serve, participant, where) -> None:
    scene = GymScene().scene("sprites")
    if where == "server":
        namespace: dict = {}
        exec(compile(HUD_ENV, "hud_env", "exec"), namespace)
        scene.environment(env_creator=namespace["Scorer"], seed=1)
    else:
        scene.runtime(env_code=HUD_ENV + "\nenv = Scorer()\n")
    scene.rendering(fps=10, game_width=200, game_height=100, hud="Score {score} · round {episode} of {num_episodes}",
                    hud_score_carry_over=True)  # fmt: skip
    scene.gameplay(action_mapping={"ArrowRight": 1}, default_action=0, num_episodes=2, reset_freeze_s=1)
    scene.policies(policy_mapping={"player": "human"})
    server = serve(experiment(scene))
    page = participant(server.url)
    # Every text the HUD shows, in order (the game is over in about two seconds).
    page.evaluate("""() => {
      window.__huds = [];
      new MutationObserver(() => {
        const text = document.querySelector('[data-testid=hud]')?.textContent;
        if (text && window.__huds.at(-1) !== text) window.__huds.push(text);
      }).observe(document.body, { childList: true, subtree: true, characterData: true });
    }""")
    start(page)
    wait_for(page, "m.sceneId === 'end'", timeout=60_000)
    huds = page.evaluate("window.__huds")
    # Every step scores 1: the HUD reads 5 at the end of episode 1 and goes on from there in episode 2.
    assert "Score 5 · round 1 of 2" in huds
    assert huds.index("Score 7 · round 2 of 2") > huds.index("Score 5 · round 1 of 2"), huds
    assert huds[-1] == "Score 10 · round 2 of 2", huds
    assert not any(h.startswith("Score 1 · round 2") for h in huds), huds  # (not from 0 again)


P2P_ENV = SPRITES_ENV.replace("class Sprites:", "class Single:") + '''

class Pair:
    # Two players, the same picture on both peers; the state is the step count (rollback restores it).
    possible_agents = ["left", "right"]

    def __init__(self):
        self.agents = list(self.possible_agents)
        self.single = Single()

    def action_space(self, agent):
        return Discrete(2)

    def reset(self, seed=None, options=None):
        self.single.reset(seed)
        return {a: [0] for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.single.t += 1
        flags = {a: False for a in self.agents}
        return {a: [self.single.t] for a in self.agents}, {a: 0.0 for a in self.agents}, flags, dict(flags), \\
            {a: {} for a in self.agents}

    def get_state(self):
        return {"t": self.single.t}

    def set_state(self, state):
        self.single.t = state["t"]

    def render(self):
        return self.single.render()


env = Pair()
'''


def test_both_peers_of_a_p2p_game_draw_the_sprites(serve, participant, tmp_path) -> None:
    scene = (
        GymScene()
        .scene("sprites")
        .runtime(env_code=P2P_ENV)
        .multiplayer(mode="p2p", input_delay=2, p2p_connect_timeout_s=1.0)
        .policies(policy_mapping={"left": "human", "right": "human"})
        .rendering(fps=20, game_width=200, game_height=100, background="#000000")
        .gameplay(action_mapping={"ArrowUp": 1}, default_action=0, max_steps=100_000)
    )
    server = serve(experiment(with_assets(scene, art(tmp_path / "art"))))
    pages = []
    for name in ("ann", "ben"):
        page = participant(f"{server.url}?participant={name}")
        page.evaluate("() => { window.mugTest = { p2p: { blockDataChannels: true } }; }")  # the server relays
        start(page)
        pages.append(page)
    for page in pages:
        wait_for(page, "m.p2p && m.status === 'running' && m.render.framesApplied > 2", timeout=90_000)
        assert_sprites_drawn(page)


def test_the_notebook_preview_draws_the_sprites(participant, tmp_path) -> None:
    scene = server_scene(art(tmp_path / "art"))
    exp = experiment(scene)
    exp.data_dir = tmp_path / "data"
    widget = exp.preview(scene)  # the page its output cell frames, served from this kernel
    try:
        page = participant(f"{widget.direct_url}?participant={widget.participant_ids[0]}")
        wait_for(page, "m.sceneId === 'sprites' && m.status === 'waiting_start'")
        page.get_by_test_id("start-game").click()
        wait_for(page, "m.status === 'running' && m.render.framesApplied > 2")
        assert_sprites_drawn(page)
    finally:
        widget.stop()
