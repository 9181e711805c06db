"""The message pipe between the server process and its game processes."""

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


def test_messages_arrive_whole_in_order_and_nothing_blocks_when_none_is_there(pair) -> None:
    left, right = pair
    assert right.receive() == []
    sent = [[("out", "g1", None, f"frame {i}", {"step": i})] for i in range(500)]
    writer = threading.Thread(target=lambda: [left.send(message) for message in sent])
    writer.start()  # (a writer alone would block once the socket's buffer is full)
    got: list = []
    while len(got) < len(sent):
        got += right.receive()
    writer.join()
    assert got == sent
    assert right.receive() == []


def test_a_message_split_across_reads_is_kept_until_it_is_whole() -> None:
    a, b = socket.socketpair()
    right = MessagePipe(b)
    try:
        big = ["x" * 700_000, list(range(1000))]  # larger than one read
        writer = threading.Thread(target=MessagePipe(a).send, args=(big,))
        writer.start()
        got: list = []
        while not got:
            got = right.receive()
        writer.join()
        assert got == [big]
        # a message whose length has arrived but not all of its body waits for the rest
        a.sendall(b"\x00\x00\x00\x05\x80\x05")
        assert right.receive() == []
        a.sendall(b"K\x07.")  # the rest of pickle.dumps(7, protocol=5)
        while not got or got == [big]:
            got = right.receive()
        assert got == [7]
    finally:
        a.close()
        right.close()


def test_the_other_end_closing_is_an_eof_after_the_last_whole_message(pair) -> None:
    left, right = pair
    left.send("last words")
    left.close()
    got: list = []
    with pytest.raises(EOFError):
        while True:
            got += right.receive()
    assert got == ["last words"]
    with pytest.raises(OSError):
        right.send("anyone there?")


# The server process's writes to a game process never block: a game process that is itself
# blocked writing frames (and so reads no commands) cannot stall the server, and nothing is lost or
# reordered once it reads again.


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
