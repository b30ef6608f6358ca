"""A real redis-server (Debian's package) on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

INSTALL = "apt-get install redis-server (Debian's package; .ci/run installs it)"


def available() -> bool:
    """Whether redis-server is on PATH."""
    return shutil.which("redis-server") is not None


class RedisServer:
    """One redis-server process with its own directory; AOF on, fsync on every write."""

    #: The server's program.
    program = "redis-server"
    #: Options before the caller's: AOF on, fsync on every write, no RDB snapshots.
    mode: tuple[str, ...] = ("--appendonly", "yes", "--appendfsync", "always", "--save", "")

    def __init__(
        self, directory: Path, *options: str, port: int | None = None, config: Path | None = None
    ) -> None:
        """directory: the server's data directory; options: more redis-server arguments.

        port: a free one unless given; config: a config file loaded first (one that
        Sentinel or CONFIG REWRITE may rewrite).
        """
        self.directory = directory
        self.options = options
        self.port = free_port() if port is None else port
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis://127.0.0.1:<port>/0"""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *options: str) -> RedisServer:
        """Start the server (on the same port and data after a stop) and wait until it answers.

        options: more redis-server arguments for this start only (--replicaof, say).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.program,
                *([] if self.config is None else [str(self.config)]),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                *self.mode,
                "--daemonize", "no",
                "--logfile", str(self.directory / "redis.log"),
                *self.options,
                *options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.program} did not start:\n{self.log_tail()}")
            time.sleep(0.02)
        return self

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited (a paused one runs)."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the server and reap it: what it acknowledged must be in its AOF."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the server holds its connections but answers nothing."""
        assert self.process is not None
        self.process.send_signal(19)

    def resume(self) -> None:
        """SIGCONT after pause()."""
        assert self.process is not None
        self.process.send_signal(18)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.resume()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, size: int = 2000) -> str:
        """The end of the server's redis.log ("" before it has one)."""
        try:
            return (self.directory / "redis.log").read_text(errors="replace")[-size:]
        except FileNotFoundError:
            return ""

    def cli(self, *args: str) -> str:
        """Run redis-cli against the server; return its output."""
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return out.stdout

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False


class ValkeyServer(RedisServer):
    """A valkey-server (Debian's, from bookworm-backports): it has WAITAOF, Redis 7.0 lacks it."""

    program = "valkey-server"


def start_tls(directory: Path, *options: str) -> tuple[RedisServer, str]:
    """Start a redis-server with a TLS port too; return it and a rediss:// URL that trusts it."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    tls_port = free_port()
    tls = RedisServer(
        directory / "data",
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(cert),
        "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(cert),
        "--tls-auth-clients", "no",
        *options,
    )  # fmt: skip
    tls.start()  # its plain port answers the readiness check; a client uses TLS
    return tls, f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_redis() -> bool:
    """Whether a missing redis-server fails the tests (CI) instead of skipping them."""
    return os.environ.get("AIOKV_REQUIRE_REDIS") == "1"
