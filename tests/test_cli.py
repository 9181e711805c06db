"""The `mug` command: loading experiments from files, export, check-env."""

from __future__ import annotations

import textwrap

import pytest

from mug import Experiment
from mug.cli import CliError, load_experiment, main


def write(tmp_path, body: str):
    path = tmp_path / "study.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_load_the_only_experiment_or_a_named_one(tmp_path) -> None:
    path = write(
        tmp_path,
        """
        import mug
        exp = mug.Experiment("one", [mug.StartScene()])
        def make():
            return mug.Experiment("two", [mug.StartScene()])
    """,
    )
    assert load_experiment(str(path)).experiment_id == "one"
    assert load_experiment(f"{path}:make").experiment_id == "two"
    with pytest.raises(CliError, match="has no attribute 'other'"):
        load_experiment(f"{path}:other")
    with pytest.raises(CliError, match="no such file"):
        load_experiment(str(tmp_path / "missing.py"))


def test_several_experiments_need_a_name(tmp_path) -> None:
    path = write(
        tmp_path,
        """
        import mug
        a = mug.Experiment("a", [mug.StartScene()])
        b = mug.Experiment("b", [mug.StartScene()])
    """,
    )
    with pytest.raises(CliError, match="defines 2 Experiment objects; name one"):
        load_experiment(str(path))


def test_export_writes_csv_files(tmp_path, capsys) -> None:
    exp = Experiment("exported", [__import__("mug").StartScene()], data_dir=tmp_path)
    exp.serve().stop()  # creates the store and metadata
    assert main(["export", str(exp.data_path), "--out", str(tmp_path / "out")]) == 0
    written = capsys.readouterr().out.split()
    assert any(p.endswith("steps.csv") for p in written)
    assert (tmp_path / "out" / "participants.csv").is_file()
    assert main(["export", str(tmp_path / "nowhere")]) == 2


def test_check_env_reports_the_contract(capsys) -> None:
    assert main(["check-env", "mug.env.examples.catch:CatchEnv"]) == 0
    assert "contract holds" in capsys.readouterr().out
    assert main(["check-env", "envs:BrokenStep"]) == 1
    assert "step" in capsys.readouterr().out
    assert main(["check-env", "nomodule"]) == 2


def test_serve_refuses_a_wrong_game_process_count_with_a_clear_message(tmp_path, capsys) -> None:
    path = write(
        tmp_path,
        """
        import mug
        exp = mug.Experiment("one", [mug.StartScene()])
    """,
    )
    assert main(["serve", str(path), "--port", "0", "--data-dir", str(tmp_path), "--game-processes", "-1"]) == 2
    assert "game_processes must be a whole number >= 0, not -1" in capsys.readouterr().err
