"""`exp.simulate(n)` from a notebook cell: the kernel's own loop is running, and serve() may be too."""

from __future__ import annotations

import json
from pathlib import Path

CELLS = [
    """
import json, tempfile
from mug.demo import make_demo_experiment

exp = make_demo_experiment(tempfile.mkdtemp(), num_episodes=1, max_drops=1)
server = exp.serve()
""",
    "report = exp.simulate(4)\nreport",
    """
summary = {
    "ok": report.ok,
    "completed": len(report.completed),
    "real": len(exp.results().participants),
    "simulated": len(exp.results(simulated=True).participants),
    "games": len(exp.results(simulated="only").games),
    "server_results": [len(server.results().participants), len(server.results(simulated=True).participants)],
    "ran_on": report.server_url,
    "serving": f"http://127.0.0.1:{server.port}/",
}
server.stop()
print(json.dumps(summary))
""",
]


def test_simulate_runs_from_a_notebook_cell_on_the_kernels_server(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(cell) for cell in CELLS]
    NotebookClient(book, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in book.cells[1].outputs)
    assert "4 participants, 4 completed, 0 ended early, 0 errors" in shown, shown
    text = "".join(o.get("text", "") for o in book.cells[2].outputs if o.get("output_type") == "stream")
    summary = json.loads(text.strip().splitlines()[-1])
    assert summary["ok"] and summary["completed"] == 4, summary
    assert summary["real"] == 0 and summary["simulated"] == 4 and summary["games"] == 4, summary
    assert summary["server_results"] == [0, 4], summary
    assert summary["ran_on"] == summary["serving"], summary  # the server this kernel serves, not a second one
