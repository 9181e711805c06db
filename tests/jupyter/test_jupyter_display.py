"""In a kernel, `import mug` makes scenes, servers and results display richly (IPython formatters)."""

from __future__ import annotations

import json
from pathlib import Path

CELLS = [
    """
import mug
from mug.env.examples.catch import CatchEnv
game = (
    mug.GymScene().scene("catch").environment(env_creator=CatchEnv, seed=1)
    .gameplay(action_mapping={"ArrowLeft": 1, "ArrowRight": 2}, default_action=0)
    .policies(policy_mapping={"player": "human"})
)
exp = mug.Experiment("display", [game], data_dir="data")
""",
    "game",  # a scene as the last expression: a preview widget
    "mug.GymScene().scene('unfinished')",  # not playable yet: says why instead of failing
    "server = exp.serve()",  # an assignment: serve() itself shows where participants go
    "exp.results()",
    "server.stop()\nfrom mug.widgets.preview import stop_all\nstop_all()",
]


def test_jupyter_scenes_servers_and_results_display_richly(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(source.strip()) for source in CELLS]
    NotebookClient(book, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    data = [next((o["data"] for o in c.outputs if o.get("output_type") == "execute_result"), {}) for c in book.cells]

    widget = data[1].get("application/vnd.jupyter.widget-view+json")
    assert widget and widget["model_id"], data[1]
    assert data[1]["text/plain"].startswith("<MUG preview 'catch' running at http://127.0.0.1:")

    assert "not playable yet" in data[2]["text/html"] and "env_creator" in data[2]["text/html"]

    shown = next(o["data"] for o in book.cells[3].outputs if o.get("output_type") == "display_data")
    html = shown["text/html"]
    assert "is running" in html and "href='http://127.0.0.1:" in html

    assert "MUG results" in data[4]["text/html"] and "<img" in data[4]["text/html"]


PREVIEW_CELLS = [
    CELLS[0],
    "preview = exp.preview(game)",  # an assignment: nothing of the study's kind may show
    "preview",
    "server = exp.serve()",
    "server.stop()\npreview.stop()",
]


def test_jupyter_a_preview_does_not_present_itself_as_the_study(tmp_path: Path) -> None:
    # A pilot sent the preview's link would play on the preview's private server and lose their data:
    # the preview must show no banner or participant link of the study's kind, and say what it is.
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(source.strip()) for source in PREVIEW_CELLS]
    NotebookClient(book, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = [[json.dumps(o.get("data", o.get("text", ""))) for o in cell.outputs] for cell in book.cells]

    assert shown[1] == [], shown[1]  # `preview = exp.preview(game)` shows nothing but what it returns
    (widget,) = [o["data"] for o in book.cells[2].outputs if o.get("output_type") == "execute_result"]
    assert "application/vnd.jupyter.widget-view+json" in widget
    plain = widget["text/plain"]
    assert "preview" in plain and "discarded" in plain and "not the study" in plain, plain
    (banner,) = shown[3]  # the study's own banner, from serve(), once
    assert "is running. Participants" in banner
