"""The Overcooked example in Chromium: its kitchen is drawn from the example's own sprite atlas
(canvas pixels read back at known tiles), and a participant's keys move their chef.
"""

from __future__ import annotations

from pathlib import Path

from helpers import wait_for

from mug.cli import load_experiment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PIXEL = """([x, y]) => {
  const canvas = document.querySelector('[data-testid="game"] canvas');
  if (!canvas) return null;
  return Array.from(canvas.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3));
}"""


# Resolves true as soon as one of the points shows the colour, false after 3 s of frames without.
SHOWN_WITHIN_3_S = """([points, c]) => new Promise((resolve) => {
  const canvas = document.querySelector('[data-testid="game"] canvas');
  const until = performance.now() + 3000;
  const look = () => {
    const hit = points.some(([x, y]) => {
      const [r, g, b] = canvas.getContext('2d').getImageData(x, y, 1, 1).data;
      return Math.abs(r - c[0]) < 40 && Math.abs(g - c[1]) < 40 && Math.abs(b - c[2]) < 40;
    });
    if (hit || performance.now() > until) resolve(hit); else requestAnimationFrame(look);
  };
  look();
})"""


def near(page, x: int, y: int, color: tuple[int, int, int]) -> bool:
    shown = page.evaluate(PIXEL, [x, y])
    return shown is not None and all(abs(a - b) < 40 for a, b in zip(shown, color, strict=True))


def test_the_overcooked_kitchen_is_drawn_with_its_sprites_and_the_chef_moves(serve, participant) -> None:
    exp = load_experiment(str(EXAMPLES / "overcooked_human_ai.py"))
    server = serve(exp)
    page = participant(server.url)
    wait_for(page, "m.sceneId === 'welcome' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.assets && m.assets.state === 'ready' && m.assets.total === 1")
    page.get_by_test_id("start-game").click()
    wait_for(page, "m.status === 'running' && m.render.framesApplied > 2", timeout=30_000)
    # The game area is 500 x 400: a 40-pixel score band, then the 5 x 4 kitchen in 100 x 90 tiles.
    tile = lambda row, col, dx=50, dy=45: (col * 100 + dx, 40 + row * 90 + dy)  # noqa: E731
    page.wait_for_function(
        "(checks) => checks.every(([x, y, c]) => {"
        "  const canvas = document.querySelector('[data-testid=\"game\"] canvas');"
        "  const [r, g, b] = canvas.getContext('2d').getImageData(x, y, 1, 1).data;"
        "  return Math.abs(r - c[0]) < 40 && Math.abs(g - c[1]) < 40 && Math.abs(b - c[2]) < 40; })",
        arg=[
            [*tile(2, 0), [168, 116, 69]],  # a counter's wooden top
            [*tile(3, 3, 22, 22), [47, 125, 79]],  # the green delivery counter
            [*tile(3, 1, 50, 30), [233, 238, 242]],  # the top plate of the plate stack
            [*tile(1, 2, 10, 10), [217, 201, 168]],  # the floor (a corner no chef covers)
        ],
        timeout=20_000,
    )
    assert page.evaluate("window.mug.render.errors") == 0
    # The participant's chef (blue) moves with the arrow keys: a blue body appears on a new tile.
    blue = (47, 98, 201)
    before = {(r, c) for r in range(1, 3) for c in range(1, 4) if near(page, *tile(r, c, 50, 21), blue)}
    assert len(before) == 1, f"the blue chef is on {before}"
    moved = [list(tile(r, c, 50, 21)) for r in range(1, 3) for c in range(1, 4) if (r, c) not in before]
    for key in ("ArrowLeft", "ArrowDown", "ArrowRight", "ArrowUp"):
        page.keyboard.press(key)
        shown = page.evaluate(SHOWN_WITHIN_3_S, [moved, list(blue)])
        if shown:
            return
    raise AssertionError("the blue chef never moved to another tile")
