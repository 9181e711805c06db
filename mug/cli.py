"""The `mug` command: serve an experiment, run the demo, export data, check an env, replay a game."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from mug.data.backends import parse_location, redact_url
from mug.experiment import Experiment


class CliError(Exception):
    """A problem with what was asked on the command line; printed without a traceback."""


def load_experiment(target: str) -> Experiment:
    """Load ``path/to/file.py[:name]``: the named Experiment (or factory), else the module's only one."""
    path_text, _, name = target.partition(":")
    path = Path(path_text)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise CliError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    if name:
        if not hasattr(module, name):
            raise CliError(f"{path} has no attribute {name!r}")
        found: Any = getattr(module, name)
        if callable(found) and not isinstance(found, Experiment):
            found = found()
        if not isinstance(found, Experiment):
            raise CliError(f"{path}:{name} is {type(found).__name__}, not a mug.Experiment")
        return found
    experiments = [v for v in vars(module).values() if isinstance(v, Experiment)]
    if len(experiments) != 1:
        raise CliError(f"{path} defines {len(experiments)} Experiment objects; name one with {path}:NAME")
    return experiments[0]


def _serve(exp: Experiment, host: str, port: int, game_processes: int = 0, redis: str | None = None) -> int:
    try:
        server = exp.serve(host=host, port=port, game_processes=game_processes, redis=redis)
    except (ValueError, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    print(f"MUG experiment {exp.experiment_id!r} is running.")
    if server.server_id is not None:
        print(f"  this server: {server.server_id} (one of the experiment's servers sharing its Redis)")
    print(f"  participant URL: {server.url}")
    print(f"  admin dashboard (keep this link private): {server.admin_url}")
    where = exp.data_location
    print(f"  data: {redact_url(where) if isinstance(where, str) else Path(where).resolve()}")
    print("Press Ctrl-C to stop.", flush=True)
    _stop_gracefully_on_signals()
    server.wait()
    return 0


def _stop_gracefully_on_signals() -> None:
    """SIGTERM (``kill``, systemd, containers) and SIGINT stop the server as Ctrl-C does: running
    games are recorded as ended and the store is closed. (A non-interactive shell starts background
    jobs with SIGINT ignored; it is taken back here.)"""
    if threading.current_thread() is not threading.main_thread():
        return  # (signal handlers can only be set there; a caller on another thread stops the server itself)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def cmd_serve(args: argparse.Namespace) -> int:
    exp = load_experiment(args.target)
    if args.data_dir:
        exp.data_dir = Path(args.data_dir)
    if args.database:
        try:
            exp.database = parse_location(args.database, "--database")
        except ValueError as exc:
            raise CliError(str(exc)) from None
    return _serve(exp, args.host, args.port, args.game_processes, args.redis)


def cmd_demo(args: argparse.Namespace) -> int:
    from mug.demo import make_demo_experiment

    return _serve(make_demo_experiment(args.data_dir), args.host, args.port)


def cmd_export(args: argparse.Namespace) -> int:
    from mug.data import export_results
    from mug.data.backends import is_database_url

    if args.out:
        out = Path(args.out)
    else:  # beside the data folder's database; for a database URL, ./export
        out = Path("export") if is_database_url(args.data_dir) else Path(args.data_dir) / "export"
    try:
        simulated = {"no": False, "include": True, "only": "only"}[args.simulated]
        written = export_results(args.data_dir, out, format=args.format, simulated=simulated)
    except (FileNotFoundError, ValueError, ConnectionError) as exc:
        raise CliError(str(exc)) from None
    for path in written:
        print(path)
    return 0


def cmd_check_env(args: argparse.Namespace) -> int:
    from mug.env import EnvCheckError, check_env

    module_name, _, attr = args.target.partition(":")
    if not attr:
        raise CliError("give the env as module:callable, e.g. mug.env.examples.catch:CatchEnv")
    try:
        creator = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise CliError(f"cannot load {args.target}: {exc}") from None
    try:
        check_env(creator, seed=args.seed, num_steps=args.steps)
    except EnvCheckError as exc:
        print(f"{args.target} breaks the env contract:\n{exc}")
        return 1
    print(f"{args.target}: the env contract holds.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mug", description="MUG: real-time browser experiments from Python envs.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve an experiment defined in a Python file")
    serve.add_argument("target", help="path/to/experiment.py[:name]")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--data-dir", default=None, help="override the experiment's data_dir")
    serve.add_argument(
        "--game-processes",
        type=int,
        default=0,
        help="run server-authoritative games in this many forked processes (Linux; default 0: in the server)",
    )
    serve.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="one of several servers of this experiment behind a load balancer, sharing this Redis "
        "(redis://host:port/db; docs/deploy.md)",
    )
    serve.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="the experiment's data in this database instead of SQLite under --data-dir "
        "(postgresql://user@host:port/dbname; docs/data.md)",
    )
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="serve the demo experiment")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--data-dir", default="data")
    demo.set_defaults(func=cmd_demo)

    export = sub.add_parser("export", help="write an experiment's data as CSV or Parquet files")
    export.add_argument(
        "data_dir", help="the experiment's data folder (data_dir/experiment_id), or its postgresql:// database URL"
    )
    export.add_argument("--format", default="csv", choices=["csv", "parquet"])
    export.add_argument("--out", default=None, help="output folder (default: DATA_DIR/export; ./export for a URL)")
    export.add_argument(
        "--simulated", default="no", choices=["no", "include", "only"], help="simulated participants' data (default no)"
    )
    export.set_defaults(func=cmd_export)

    check = sub.add_parser("check-env", help="check that an env keeps MUG's env contract")
    check.add_argument("target", help="module:callable that creates the env")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--steps", type=int, default=100)
    check.set_defaults(func=cmd_check_env)

    from mug.replay.command import add_parser as add_replay
    from mug.simulate.command import add_parser as add_simulate

    add_replay(sub)
    add_simulate(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"mug: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
