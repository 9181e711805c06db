"""Ready-made plots of an experiment's results (matplotlib; ``pip install "mug-py[jupyter]"``).

::

    from mug.widgets import plots
    res = exp.results()
    plots.episode_table(res)          # one row per participant per episode: return, steps, duration
    plots.returns(res)                # return per episode, one line per participant
    plots.durations(res)              # episode durations per participant
    plots.progress(res)               # how many participants reached each scene
    plots.summary(res)                # the three side by side (a Figure)

Each plotting function takes an optional matplotlib ``ax`` and returns it; without one it draws on
a new pyplot figure, which a notebook shows at the end of the cell.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mug.data import Results

__all__ = ["durations", "episode_table", "progress", "returns", "summary", "summary_html"]

POLICY_PREFIX = "policy:"
#: With more participants than this, lines are drawn thin and unlabelled, with the mean on top.
LEGEND_LIMIT = 10

_EPISODE_COLUMNS = ["participant_id", "agent_id", "scene_id", "game_id", "episode", "n", "return", "num_steps",
                    "duration_s", "outcome", "started_at"]  # fmt: skip


def episode_table(results: Results) -> pd.DataFrame:
    """One row per participant per episode: ``return``, ``num_steps``, ``duration_s`` and ``n``.

    ``n`` numbers a participant's episodes 1, 2, ... in the order they played them, across scenes
    and games. In multi-agent games each human agent's return is its participant's; agents played
    by policies are left out.
    """
    episodes = results.episodes
    if episodes.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in _EPISODE_COLUMNS})
    players = _players_by_game(results.games)
    rows: list[dict[str, Any]] = []
    return_columns = [c for c in episodes.columns if c.startswith("return.")]
    for record in episodes.to_dict("records"):
        base = {k: record.get(k) for k in ("scene_id", "game_id", "episode", "num_steps", "duration_s", "outcome")}
        base["started_at"] = record.get("started_at")
        if "return" in episodes.columns:
            ids = record.get("participant_ids") or [None]
            for pid in ids:
                rows.append(
                    {**base, "participant_id": pid, "agent_id": record.get("agent_id"), "return": record["return"]}
                )
            continue
        roster = players.get(record["game_id"], {})
        for column in return_columns:
            agent = column[len("return.") :]
            who = roster.get(agent)
            if who is None or str(who).startswith(POLICY_PREFIX) or pd.isna(record[column]):
                continue
            rows.append({**base, "participant_id": who, "agent_id": agent, "return": record[column]})
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in _EPISODE_COLUMNS})
    table = table.sort_values(["participant_id", "started_at", "episode"], kind="stable")
    table["n"] = table.groupby("participant_id").cumcount() + 1
    return table[_EPISODE_COLUMNS].reset_index(drop=True)


def _players_by_game(games: pd.DataFrame) -> dict[str, dict[str, Any]]:
    columns = [c for c in games.columns if c.startswith("players.")]
    out: dict[str, dict[str, Any]] = {}
    for record in games.to_dict("records"):
        out[record["game_id"]] = {c[len("players.") :]: record[c] for c in columns if pd.notna(record[c])}
    return out


def _axes(ax: Axes | None, size: tuple[float, float] = (5.5, 3.4)) -> Axes:
    if ax is not None:
        return ax
    # A pyplot figure, so a notebook shows it at the end of the cell like any other plot.
    import matplotlib.pyplot as plt

    return plt.figure(figsize=size, layout="constrained").add_subplot()


def _empty(ax: Axes, title: str, message: str) -> Axes:
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#596079")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def returns(results: Results, ax: Axes | None = None) -> Axes:
    """Return of each episode, in the order each participant played them; one line per participant."""
    ax = _axes(ax)
    table = episode_table(results)
    title = "Return per episode"
    if table.empty:
        return _empty(ax, title, "no episodes yet")
    many = table["participant_id"].nunique() > LEGEND_LIMIT
    for pid, rows in table.groupby("participant_id", sort=False):
        style = {"color": "#9aa3c4", "linewidth": 0.8, "alpha": 0.6} if many else {"marker": "o", "label": str(pid)}
        ax.plot(rows["n"], rows["return"], **style)
    if many:
        mean = table.groupby("n")["return"].mean()
        ax.plot(mean.index, mean.values, color="#3451d1", linewidth=2.5, label="mean")
    ax.set_title(title)
    ax.set_xlabel("episode (per participant)")
    ax.set_ylabel("return")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize="small", frameon=False)
    return ax


def durations(results: Results, ax: Axes | None = None) -> Axes:
    """Duration of every episode (seconds), one column of dots per participant, with the median."""
    ax = _axes(ax)
    table = episode_table(results).dropna(subset=["duration_s"])
    title = "Episode durations"
    if table.empty:
        return _empty(ax, title, "no episodes yet")
    groups = list(table.groupby("participant_id", sort=True))
    for i, (_pid, rows) in enumerate(groups):
        xs = [i + (j % 5 - 2) * 0.06 for j in range(len(rows))]
        ax.scatter(xs, rows["duration_s"], s=18, color="#3451d1", alpha=0.7)
        median = rows["duration_s"].median()
        ax.plot([i - 0.3, i + 0.3], [median, median], color="#1d2230", linewidth=1.5)
    ax.set_xticks(range(len(groups)))
    labels = [str(pid) for pid, _ in groups]
    ax.set_xticklabels(labels if len(labels) <= LEGEND_LIMIT * 2 else [""] * len(labels), rotation=30, ha="right")
    ax.set_title(title)
    ax.set_ylabel("seconds")
    ax.set_ylim(0, max(float(table["duration_s"].max()) * 1.12, 1.0))
    return ax


def progress(results: Results, ax: Axes | None = None) -> Axes:
    """How many participants reached each scene (from scene visits), in the experiment's order."""
    ax = _axes(ax)
    visits = results.scene_visits
    title = "Participants reaching each scene"
    if visits.empty:
        return _empty(ax, title, "nobody yet")
    reached = visits.groupby(["scene_index", "scene_id"])["participant_id"].nunique().reset_index()
    reached = reached.sort_values("scene_index")
    ax.barh(reached["scene_id"].astype(str), reached["participant_id"], color="#3451d1")
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel("participants")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return ax


def summary(results: Results, figure: Figure | None = None) -> Figure:
    """Returns, durations and progress side by side (on ``figure``, else a new pyplot figure)."""
    if figure is None:
        import matplotlib.pyplot as plt

        figure = plt.figure(figsize=(15, 3.6), layout="constrained")
    fig = figure
    left, middle, right = fig.subplots(1, 3)
    returns(results, left)
    durations(results, middle)
    progress(results, right)
    return fig


def summary_html(results: Results) -> str:
    """An HTML digest of results: counts, the summary plots (when matplotlib is there), per participant."""
    # (row_counts: player_steps, left out here, is not built just to be skipped)
    counts = ", ".join(f"{rows:,} {name}" for name, rows in results.row_counts().items() if name != "player_steps")
    parts = [
        "<div class='mug-results'>",
        f"<div><b>MUG results</b> <code>{html.escape(str(results.path))}</code></div>",
        f"<div style='color:#596079'>{html.escape(counts)}</div>",
    ]
    try:
        from matplotlib.figure import Figure

        # Not pyplot: a figure made while formatting must not be shown a second time by the notebook.
        figure = summary(results, Figure(figsize=(15, 3.6), layout="constrained"))
    except ImportError:
        parts.append("<div><i>pip install matplotlib for plots</i></div>")
    else:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        encoded = base64.b64encode(buffer.getvalue()).decode()
        parts.append(f"<img alt='returns, durations and progress' src='data:image/png;base64,{encoded}'>")
    per_participant = _per_participant(results)
    if not per_participant.empty:
        parts.append(per_participant.to_html(index=False, float_format=lambda v: f"{v:.2f}", border=0))
    parts.append(
        "<div style='color:#596079'>DataFrames: <code>.participants .scene_visits .forms .games .episodes "
        ".steps .player_steps .events</code></div></div>"
    )
    return "\n".join(parts)


def _per_participant(results: Results) -> pd.DataFrame:
    participants = results.participants
    if participants.empty:
        return pd.DataFrame()
    table = episode_table(results)
    stats = (
        table.groupby("participant_id").agg(
            episodes=("n", "count"), mean_return=("return", "mean"), steps=("num_steps", "sum")
        )
        if not table.empty
        else pd.DataFrame(columns=["episodes", "mean_return", "steps"])
    )
    out = participants[["participant_id", "status", "scene_id"]].merge(
        stats, left_on="participant_id", right_index=True, how="left"
    )
    out["episodes"] = out["episodes"].fillna(0).astype(int)
    return out.rename(columns={"scene_id": "current scene"})
