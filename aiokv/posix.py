"""The platforms aiokv runs on: POSIX (Linux, macOS); one clear ImportError elsewhere."""

from __future__ import annotations

import sys

try:
    # The lock is flock() and the durable write fsync(), both from fcntl and os.
    import fcntl  # noqa: F401
except ModuleNotFoundError:
    raise ImportError(
        f"aiokv runs on POSIX systems (Linux, macOS), not on {sys.platform}: "
        "its one-owner file lock needs the fcntl module, which this Python does not have"
    ) from None
