"""A TCP proxy of our own on loopback that breaks connections at random, for the Redis campaign.

Clients connect to the proxy; each connection gets its own connection to the
real server, and two pumps copy the bytes both ways. While a storm is on,
each chunk a pump is about to forward may, at random (seeded):

- delay: wait a few milliseconds, then forward (bytes stay in order);
- stall: hold the chunk longer than the clients' timeout, then forward it,
  as a network that queues packets does (a request the client gave up on
  may still reach the server);
- drop: close both sides (FIN), the chunk lost;
- reset: close both sides with SO_LINGER 0, so each side gets a RST.

A reaper also drops or resets connections at random moments, idle or busy,
as a server restart or a NAT timeout does to a client's pooled connections.
The proxy runs its own event loop in a thread, so a client's loop (or a
client process) never slows it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CHUNK = 65536
KINDS = ("delay", "stall", "drop", "reset")
REAP_EVERY = 0.02  # seconds between the reaper's looks at the connections


@dataclass
class Faults:
    """What a storm does: the chance per chunk (and per reaper look) and how long it holds."""

    rate: float = 0.0
    max_delay: float = 0.005
    stall: tuple[float, float] = (0.3, 0.6)

    @property
    def longest(self) -> float:
        """The longest a chunk seen during the storm may still be held after it ends."""
        return max(self.max_delay, self.stall[1])


@dataclass(eq=False)
class _Link:
    """One client connection and its own connection to the server."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    def close(self, reset: bool) -> None:
        for writer in (self.client, self.server):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            if reset and sock is not None:
                # Linger on with a zero timeout: close() sends RST, not FIN.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if reset:
                writer.transport.abort()
            else:
                writer.close()
        for pump in self.pumps:
            pump.cancel()


class Proxy:
    """127.0.0.1:<port> forwarding to 127.0.0.1:<upstream>, with seeded faults during storms."""

    def __init__(self, upstream: int, seed: int) -> None:
        """upstream: the real server's port; seed: the faults' random source."""
        self.upstream = upstream
        self.rng = random.Random(seed)
        self.faults = Faults()
        self.injected: Counter[str] = Counter()  # faults by kind, all storms together
        self.port = 0
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[Any]] = set()  # one per client connection
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="redis-proxy")

    @property
    def url(self) -> str:
        """The URL clients use to reach the server through the proxy."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Proxy:
        """Listen, in the proxy's own thread; return once it accepts connections."""
        self._thread.start()
        self._ready.wait()
        return self

    def storm(self, faults: Faults) -> None:
        """Begin injecting faults (thread-safe: the proxy reads it at each chunk)."""
        self.faults = faults

    def calm(self) -> None:
        """Stop injecting faults; a chunk already held is still forwarded when its time is up."""
        self.faults = Faults()

    def stop(self) -> None:
        """Close every connection and the listener; end the thread."""
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        listener = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = listener.sockets[0].getsockname()[1]
        self._ready.set()
        reaper = asyncio.create_task(self._reap())
        await self._stop.wait()
        reaper.cancel()
        listener.close()
        for link in list(self._links):
            link.close(reset=False)
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await listener.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            await self._forward(reader, writer)
        finally:
            self._handlers.discard(handler)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer)
        try:
            up_reader, link.server = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            link.close(reset=False)  # the server is down: the client sees its connection end
            return
        self._links.add(link)
        link.pumps = [
            asyncio.create_task(self._pump(reader, link.server, link)),
            asyncio.create_task(self._pump(up_reader, writer, link)),
        ]
        await asyncio.gather(*link.pumps, return_exceptions=True)
        self._links.discard(link)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link
    ) -> None:
        try:
            while chunk := await source.read(CHUNK):
                faults = self.faults
                if faults.rate and self.rng.random() < faults.rate:
                    kind = self.rng.choice(KINDS)
                    self.injected[kind] += 1
                    if kind in ("drop", "reset"):
                        link.close(reset=kind == "reset")
                        return
                    low, high = (0, faults.max_delay) if kind == "delay" else faults.stall
                    await asyncio.sleep(self.rng.uniform(low, high))
                sink.write(chunk)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            link.close(reset=False)  # one side ended: so does the other, as a server's close

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_EVERY)
            faults = self.faults
            if faults.rate and self._links and self.rng.random() < faults.rate:
                kind = self.rng.choice(("drop", "reset"))
                self.injected[f"{kind} (reaper)"] += 1
                self.rng.choice(list(self._links)).close(reset=kind == "reset")
