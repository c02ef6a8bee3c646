"""A real PostgreSQL server on 127.0.0.1 for the sink tests: a private cluster in a temporary
directory (``initdb``), started, killed and restarted; as the ``postgres`` user when run as root."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .redis_server import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return found[0] if found else shutil.which(name)


INITDB, POSTGRES, PG_CTL = _bin("initdb"), _bin("postgres"), _bin("pg_ctl")
AVAILABLE = None not in (INITDB, POSTGRES, PG_CTL) and shutil.which("psql") is not None


class PostgresServer:
    """One PostgreSQL cluster without fsync on a free loopback port; ``trust`` auth, user ``postgres``."""

    def __init__(self) -> None:
        assert INITDB is not None and POSTGRES is not None
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="douyin-async-pg-"))
        self.data = self.root / "data"
        self.process: subprocess.Popen[bytes] | None = None
        self._user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._user = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*self._user, INITDB, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                        "-E", "UTF8", "--locale", "C"], check=True, capture_output=True, timeout=120)

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://postgres{secret}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        assert POSTGRES is not None
        log = open(self.root / "log", "ab")  # noqa: SIM115 - the server's, closed with the process
        self.process = subprocess.Popen(
            [*self._user, POSTGRES, "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=50"],
            stdout=log, stderr=log, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_text = (self.root / "log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres exited with {self.process.returncode}: {log_text}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                if self.psql("SELECT 1").strip() == "1":
                    return
            time.sleep(0.05)
        raise RuntimeError("postgres did not answer")

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql,
                               self.url(database)], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            return ""
        return done.stdout

    def kill(self) -> None:
        """SIGKILL to the postmaster and its backends (one process group): every connection drops at once."""
        if self.process is not None:
            group = self.process.pid
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            self.process.wait(10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # until every backend is gone: they hold the shared memory
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.02)
            self.process = None
            (self.data / "postmaster.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process is not None:
            subprocess.run([*self._user, str(PG_CTL), "-D", str(self.data), "-m", "immediate", "stop"],
                           capture_output=True, check=False, timeout=60)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            if self.process.poll() is None:
                self.process.kill()
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
