"""The server process's writes to a game process never block: a game process that is itself
blocked writing frames (and so reads no commands) cannot stall the server, and nothing is lost or
reordered once it reads again."""

from __future__ import annotations

import socket
import threading

import pytest

from mug.server.games.processes.pipe import MessagePipe


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    ends = MessagePipe(a), MessagePipe(b)
    yield ends
    for end in ends:
        end.close()


def _commands(count: int) -> list[list[tuple]]:
    return [[("action", "g1", f"p{i}", i % 3)] * 50 for i in range(count)]  # ~1 kB each


def test_commands_to_a_process_that_reads_nothing_queue_and_arrive_in_order_when_it_reads(pair) -> None:
    server, game = pair
    sent = _commands(2000)  # far more than the socket holds
    left = [server.send_nowait(batch) for batch in sent]  # (with a blocking send this would hang)
    assert left[0] is False  # the first ones went straight to the socket
    assert left[-1] is True and server.unsent > 0
    got: list = []
    while server.unsent or len(got) < len(sent):  # the game process reads; the server writes more
        got += game.receive()
        server.flush()
    assert got == sent
    assert server.flush() is False and server.unsent == 0


def test_a_blocking_send_writes_what_is_queued_first(pair) -> None:
    server, game = pair
    queued = _commands(1000)
    for batch in queued:
        server.send_nowait(batch)
    assert server.unsent > 0
    last = [("stop",)]
    writer = threading.Thread(target=server.send, args=(last,))
    writer.start()  # (it waits for the game process to read)
    got: list = []
    while len(got) < len(queued) + 1:
        got += game.receive()
    writer.join()
    assert got == [*queued, last]
    assert server.unsent == 0


def test_a_gone_game_process_is_an_error_not_a_hang(pair) -> None:
    server, game = pair
    game.close()
    with pytest.raises(OSError):
        for batch in _commands(2000):
            server.send_nowait(batch)
