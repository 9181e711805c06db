"""While a server runs, full collections skip the objects that existed before it started."""

from __future__ import annotations

import gc

from mug import Experiment, StartScene
from mug.server import heap


def test_objects_from_before_the_server_are_frozen_while_it_runs(tmp_path) -> None:
    assert gc.get_freeze_count() == 0
    exp = Experiment("heap", [StartScene().scene("start")], data_dir=tmp_path)
    with exp.serve() as first:
        assert gc.get_freeze_count() > 1000  # the interpreter's and the test session's objects
        with exp.serve() as second:  # a second server in the same process keeps them frozen
            assert gc.get_freeze_count() > 1000
        assert gc.get_freeze_count() > 1000 and first.running and not second.running
    assert gc.get_freeze_count() == 0  # the last server stopped: collected as usual again
    heap.release()  # one release too many is ignored
    assert gc.get_freeze_count() == 0
