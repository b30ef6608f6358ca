"""What the command writes: data on stdout, its lines on stderr, each safe for line readers."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, cast

from .codes import EXIT_OS, Failure

# A character a line-by-line reader (or a terminal) may take for a line break
# or a control: C0, DEL, C1, U+2028, U+2029; and a byte of a path that is not
# UTF-8 (os.fsdecode gives it as a lone surrogate).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\udc80-\udcff]")
# The same characters as UTF-8 inside JSON that orjson (or json, without
# ensure_ascii) writes raw: C0 is always escaped there. In valid UTF-8 these
# byte sequences are those characters and nothing else, and in JSON they can
# only be inside strings, so a \uXXXX escape reads back as the same text.
_JSON_BREAKS = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")


def one_line(text: str) -> str:
    """text with each control character escaped (\\n, \\x1b, \\u2028), a non-UTF-8 byte \\xNN."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code >= 0xDC80:
        return f"\\x{code - 0xDC00:02x}"  # the byte os.fsdecode took in
    return match.group().encode("unicode_escape").decode()


def _json_escape(match: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(match.group().decode())


def error_line(message: str) -> str:
    """The line 'aiokv: message' as stderr gets it: one line, whatever message holds."""
    return f"aiokv: {one_line(message)}\n"


def counted(n: int, noun: str) -> str:
    """'1 key', '2 keys': a count and its noun, singular or plural."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def say(message: str) -> None:
    """Write 'aiokv: message' on stderr as one line (nothing if stderr is closed)."""
    if sys.stderr is None:  # `2>&-`: nowhere to say it
        return
    try:  # stderr's own error handler (backslashreplace) keeps any text printable
        sys.stderr.write(error_line(message))
        sys.stderr.flush()
    except OSError:  # stderr failing too: nowhere left to say it
        pass


def emit(chunks: Iterable[bytes], *, json: bool = False) -> None:
    """Write chunks on stdout and flush; json: line breaks within its strings escaped."""
    out = sys.stdout.buffer
    for chunk in chunks:
        out.write(_JSON_BREAKS.sub(_json_escape, chunk) if json else chunk)
    out.flush()


@contextlib.contextmanager
def guarded_stdout() -> Iterator[None]:
    """Within: every write to stdout fails as the command's, exit 5 naming stdout, or quietly.

    Whoever writes (emit(), or a command's own print), an OS error (a full
    disk; stdout closed, `>&-`, for which Python gives None) is a Failure,
    exit 5, naming stdout; a broken pipe (the reader stopped reading) is
    raised as such, for main() to end quietly. The stream is given back
    after (main() may run in a process that goes on).
    """
    old = sys.stdout
    guarded = io.TextIOWrapper(
        cast(BinaryIO, _Stdout(None if old is None else old.buffer)),  # the methods it uses
        encoding="utf-8" if old is None else old.encoding,
        errors="strict" if old is None else old.errors,
        write_through=True,  # nothing kept here: it is all in old's buffer
    )
    sys.stdout = guarded
    try:
        yield
    finally:
        sys.stdout = old
        guarded.detach()  # its end must not close old's stream


def flush_stdout() -> None:
    """Flush stdout: its errors now, as the command's, not in the interpreter's last flush."""
    sys.stdout.flush()


class _Stdout(io.BufferedIOBase):
    # stdout's bytes, passed on to the real stream (None: closed).
    def __init__(self, inner: BinaryIO | None) -> None:
        super().__init__()
        self._inner = inner

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._inner is None:
            raise Failure(EXIT_OS, "stdout: closed; nothing printed")
        with self._errors():
            return self._inner.write(data)

    def flush(self) -> None:
        if self._inner is not None:
            with self._errors():
                self._inner.flush()

    def close(self) -> None:
        # Dropped when main() ends: the stream it wrote to is not its to close.
        self._inner = None

    def fileno(self) -> int:
        if self._inner is None:
            raise io.UnsupportedOperation("stdout is closed")
        return self._inner.fileno()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as e:
            # What the stream still holds goes to /dev/null from here, so
            # that the interpreter's last flush cannot fail again.
            with contextlib.suppress(OSError, ValueError, AttributeError):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, self.fileno())
                os.close(null)
            if isinstance(e, BrokenPipeError):
                raise
            raise Failure(EXIT_OS, f"stdout: {e.strerror or e}") from None
