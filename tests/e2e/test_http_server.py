"""``mailflow run``'s web server against hostile clients, over real sockets: idle and trickling
connections are closed, a thousand idle connections do not stop /healthz, requests in flight are
limited, and a large chunked body is refused after the limit without being held in memory."""

from __future__ import annotations

import socket
import time

import psutil
import pytest

from support.mail import signed_headers
from support.servers.process import MailflowProcess

HEAD_TIMEOUT = 2.0
KEEP_ALIVE = 1
CONCURRENCY = 8
MAX_CONNECTIONS = 200
BODY_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("http-server") / "data"
    process = MailflowProcess(
        data_dir,
        extra_env={
            "MAILFLOW_HTTP_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
            "MAILFLOW_HTTP_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE),
            "MAILFLOW_HTTP_LIMIT_CONCURRENCY": str(CONCURRENCY),
            "MAILFLOW_HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
            "MAILFLOW_HTTP_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "MAILFLOW_WEBHOOK_SECRET": "test-webhook-secret",
        },
    ).start()
    try:
        yield process
    finally:
        process.stop()


def connect(server, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.http_port), timeout=timeout)


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def healthz(server) -> bytes:
    with connect(server, timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return read_until_closed(sock)


def test_a_connection_that_sends_nothing_is_closed(server):
    with connect(server) as sock:
        started = time.monotonic()
        assert read_until_closed(sock) == b""  # closed by the server, nothing said
        waited = time.monotonic() - started
    assert HEAD_TIMEOUT - 0.5 < waited < HEAD_TIMEOUT + 3


def test_a_trickled_request_head_is_cut_off(server):
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        answer = b""
        try:
            for i in range(40):  # a header line every 0.25 s: would take 10 s
                sock.sendall(b"X-Slow-%d: y\r\n" % i)
                time.sleep(0.25)
        except OSError:
            pass
        answer = read_until_closed(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert waited < HEAD_TIMEOUT + 3


def test_an_idle_keep_alive_connection_is_closed(server):
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        answer = read_until_closed(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert waited < KEEP_ALIVE + 3


def test_a_thousand_idle_connections_do_not_stop_healthz(server):
    idle = [connect(server) for _ in range(1000)]
    try:
        started = time.monotonic()
        answer = healthz(server)
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert time.monotonic() - started < 3
        # All of them are closed by the server: beyond MAX_CONNECTIONS at once, the rest
        # after the head timeout.
        deadline = time.monotonic() + HEAD_TIMEOUT + 5
        for sock in idle:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            assert sock.recv(1) == b""
    finally:
        for sock in idle:
            sock.close()
    assert healthz(server).startswith(b"HTTP/1.1 200 ")
    # Logged once per interval, not once per connection.
    log = server.output()
    assert 1 <= log.count("idle connections: more than") <= 2, log[-3000:]
    assert log.count("sent no complete request head") <= 3, log[-3000:]


def test_requests_in_flight_are_limited_and_a_stalled_body_times_out(server):
    head = (
        b"POST /api/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"  # then nothing: the handler waits for the body
    )
    stalled = [connect(server) for _ in range(CONCURRENCY)]
    try:
        for sock in stalled:
            sock.sendall(head)
        time.sleep(0.5)
        busy = healthz(server)
        assert busy.startswith(b"HTTP/1.1 503 "), busy
        assert b"retry-after: " in busy.lower()
        for sock in stalled:
            answer = read_until_closed(sock)
            assert answer.startswith(b"HTTP/1.1 408 "), answer
    finally:
        for sock in stalled:
            sock.close()
    assert healthz(server).startswith(b"HTTP/1.1 200 ")


def test_a_large_chunked_webhook_is_refused_after_the_limit(server):
    process = psutil.Process(server.proc.pid)
    rss_before = process.memory_info().rss
    headers = signed_headers("test-webhook-secret", b"{}")
    head = (
        b"POST /api/leads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        + b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
        + b"\r\n"
    )
    piece = b"x" * 65536
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    offered, sent = 512 * 1024 * 1024, 0
    with connect(server, timeout=30) as sock:
        sock.sendall(head)
        try:
            while sent < offered:
                sock.sendall(chunk)
                sent += len(piece)
        except OSError:  # the server answered and closed: the rest is not read
            pass
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"at most 256 KB" in answer
    # What got through before the server closed is the limit plus what the kernel buffers.
    assert sent < 64 * 1024 * 1024, sent
    assert process.memory_info().rss - rss_before < 50 * 1024 * 1024
