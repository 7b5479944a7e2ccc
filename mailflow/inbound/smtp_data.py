"""Reading SMTP DATA in large chunks (RFC 5321 section 4.1.1.4 and 4.5.2).

aiosmtpd's own DATA reader works one line at a time in Python, and refuses lines longer than
its stream limit (1,001 bytes) with a permanent ``500``. Lines of any length must be accepted
(a form's HTML is often one long line), and a 20 MB message is hundreds of thousands of lines:
read line by line it keeps the event loop busy for seconds. Here asyncio's buffer search (C
speed) looks for ``.CRLF``; whether that is the terminator is decided on the bytes consumed so
far, so no state is lost between chunks, whatever the network's chunking.
"""

from __future__ import annotations

import asyncio

_DOT_CRLF = b".\r\n"
_TERMINATOR = b"\r\n.\r\n"


class DotStuffed(bytearray):
    """DATA as received (every line that began with "." still carries its extra dot), up to
    and including the CRLF that ends the last line."""

    def unstuffed(self) -> bytes:
        # RFC 5321 4.5.2: a line that begins with "." loses that first character.
        data = self[1:] if self.startswith(b".") else self
        return bytes(data.replace(b"\r\n.", b"\r\n"))


async def read_data(
    reader: asyncio.StreamReader,
    size_limit: int | None,
) -> tuple[DotStuffed, bool]:
    """Read DATA up to and including the terminating ``CRLF.CRLF``; bytes after it stay in
    the stream (pipelined commands). Returns the data (still dot-stuffed) and whether it went
    over ``size_limit`` (then it was read to the end and thrown away: the data is empty).

    Raises ``asyncio.IncompleteReadError`` when the stream ends first."""
    data = DotStuffed()
    # The last bytes consumed, starting with the CRLF that ended the DATA command: the
    # terminator may begin before the current piece (".CRLF" right at the start, too).
    tail = b"\r\n"
    size = 0
    too_much = False
    while True:
        try:
            piece = await reader.readuntil(_DOT_CRLF)
            found = True
        except asyncio.LimitOverrunError as overrun:
            # No ".CRLF" ends within the first ``consumed`` bytes (asyncio keeps a possible
            # partial one in its buffer): they are message data.
            piece = await reader.readexactly(overrun.consumed)
            found = False
        recent = tail + piece[-len(_TERMINATOR) :]
        ended = found and recent.endswith(_TERMINATOR)
        if ended:
            piece = piece[: len(piece) - len(_DOT_CRLF)]  # the last line's CRLF stays
        size += len(piece)
        if size_limit and size > size_limit:
            too_much = True
            data.clear()
        elif not too_much:
            data += piece
        if ended:
            return data, too_much
        tail = recent[-4:]
