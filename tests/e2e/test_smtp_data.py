"""SMTP DATA, whatever the network's chunking: every message is answered and stored byte for
byte (after dot-unstuffing), through asyncio's StreamReader and through a real socket."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from mailflow.db import session_scope
from mailflow.inbound.smtp import IntakeController
from mailflow.inbound.smtp_data import read_data
from mailflow.infra import blobs
from mailflow.models import InboundMessage
from support.mail import inbound_rows

STREAM_LIMIT = 1001  # aiosmtpd's StreamReader limit (its line_length_limit)

# Pieces that make DATA hard to read: line ends, empty lines, dots at line starts, bare CR and
# LF, and runs of text around the buffer sizes (aiosmtpd's 1,001-byte stream limit, twice
# that where asyncio pauses reading, a socket read of 64 KiB).
PIECES = st.one_of(
    st.sampled_from([b"\r\n", b"\r\n\r\n", b".", b"..", b".\r\n", b"\r", b"\n", b"\n.\n", b" "]),
    st.binary(min_size=1, max_size=20),
    st.builds(
        lambda size, byte: byte * size,
        st.one_of(
            st.integers(1, 3000),
            st.sampled_from([998, 999, 1000, 1001, 1002, 2001, 2002, 2003, 65535, 65536]),
        ),
        st.sampled_from([b"x", b".", b"\r", b"\n"]),
    ),
)


@st.composite
def messages(draw) -> bytes:
    """A message as the sender means it: any bytes, ending in CRLF (as SMTP requires), often
    with an empty line at the end."""
    body = b"".join(draw(st.lists(PIECES, max_size=30)))
    ending = draw(st.sampled_from([b"\r\n", b"\r\n\r\n", b"\r\n\r\n\r\n", b".\r\n\r\n"]))
    return body + ending


def dot_stuffed(message: bytes) -> bytes:
    """What goes on the wire (RFC 5321 4.5.2): a line that begins with "." gets another."""
    wire = b"." + message if message.startswith(b".") else message
    return wire.replace(b"\r\n.", b"\r\n..")


@st.composite
def chunked(draw, wire: bytes) -> list[bytes]:
    cuts = draw(st.lists(st.integers(0, len(wire)), max_size=40))
    # A cut at every CRLF boundary too, sometimes: the worst case for a terminator search.
    if draw(st.booleans()):
        cuts += [i + 1 for i in range(len(wire)) if wire[i : i + 2] == b"\r\n"][:200]
    bounds = [0, *sorted(set(cuts)), len(wire)]
    return [wire[a:b] for a, b in itertools.pairwise(bounds) if b > a]


async def read_fed(chunks: list[bytes], size_limit: int | None):
    reader = asyncio.StreamReader(limit=STREAM_LIMIT)

    async def feed():
        for chunk in chunks:
            reader.feed_data(chunk)
            await asyncio.sleep(0)
        reader.feed_eof()

    feeding = asyncio.create_task(feed())
    data, too_much = await asyncio.wait_for(read_data(reader, size_limit), timeout=10)
    rest = await reader.read()
    await feeding
    return data, too_much, rest


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.data())
def test_any_chunking_reads_the_message_and_leaves_the_next_command(data):
    message = data.draw(messages())
    after = b"MAIL FROM:<next@x>\r\nQUIT\r\n"  # pipelined commands stay in the stream
    chunks = data.draw(chunked(dot_stuffed(message) + b".\r\n" + after))
    stuffed, too_much, rest = asyncio.run(read_fed(chunks, None))
    assert not too_much
    assert stuffed.unstuffed() == message
    assert rest == after


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.data())
def test_over_the_size_limit_the_data_is_read_to_its_end_and_dropped(data):
    message = data.draw(messages())
    wire = dot_stuffed(message)
    limit = data.draw(st.integers(1, len(wire) + 10))
    chunks = data.draw(chunked(wire + b".\r\nQUIT\r\n"))
    stuffed, too_much, rest = asyncio.run(read_fed(chunks, limit))
    assert too_much == (len(wire) > limit)
    assert stuffed.unstuffed() == (b"" if too_much else message)
    assert rest == b"QUIT\r\n"


def test_empty_message_and_a_lone_dot_line():
    assert asyncio.run(read_fed([b".\r\n"], None))[0] == b""
    assert asyncio.run(read_fed([b"..\r\n.\r\n"], None))[0].unstuffed() == b".\r\n"


class RawClient:
    """A bare SMTP client on a socket: the message goes out in the chunks the test chose."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        assert self.reply().startswith(b"220")

    def reply(self) -> bytes:
        while True:
            lines = self.buffer.split(b"\r\n")
            for i, line in enumerate(lines[:-1]):
                if line[3:4] == b" ":
                    self.buffer = b"\r\n".join(lines[i + 1 :])
                    return line
            more = self.sock.recv(65536)
            if not more:
                raise ConnectionError(f"closed; had {self.buffer!r}")
            self.buffer += more

    def command(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def intake(settings):
    controller = IntakeController(settings, hostname="127.0.0.1", port=0)
    controller.start()
    yield controller
    controller.stop()


SENT = itertools.count()


@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_over_a_socket_every_message_is_answered_and_stored_byte_for_byte(settings, intake, data):
    # Fixed width: Hypothesis replays an example and expects the same sizes.
    message = b"Message-ID: <prop-%09d@test>\r\n" % next(SENT) + data.draw(messages())
    chunks = data.draw(chunked(dot_stuffed(message) + b".\r\n"))
    client = RawClient(intake.port)
    try:
        assert client.command(b"EHLO test").startswith(b"250")
        assert client.command(b"MAIL FROM:<form@site.example>").startswith(b"250")
        assert client.command(b"RCPT TO:<leads@localhost>").startswith(b"250")
        assert client.command(b"DATA").startswith(b"354")
        for chunk in chunks:
            client.sock.sendall(chunk)
            time.sleep(0.0005)  # lets the server see this chunk on its own
        answer = client.reply()
        assert answer.startswith(b"250"), answer
        row_id = int(answer.rsplit(b" ", 1)[1])
        assert client.command(b"QUIT").startswith(b"221")
    finally:
        client.close()
    with session_scope(settings) as session:
        # Large messages are kept as files beside the database (raw_path), small ones inline.
        assert blobs.read(settings, session.get(InboundMessage, row_id)) == message


def test_several_messages_in_one_session_ending_in_empty_lines(settings, intake):
    client = RawClient(intake.port)
    client.command(b"EHLO test")
    for n in range(3):
        client.command(b"MAIL FROM:<a@x>")
        client.command(b"RCPT TO:<leads@localhost>")
        client.command(b"DATA")
        client.sock.sendall(b"Message-ID: <n%d@x>\r\n\r\ntext\r\n\r\n.\r\n" % n)
        assert client.reply().startswith(b"250")
    client.close()
    assert len(inbound_rows(settings)) == 3
