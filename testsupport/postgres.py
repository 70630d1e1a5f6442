"""A real PostgreSQL server (Debian's ``postgresql`` binaries), for tests and benchmarks.

In the test run it is started once, only when a test asks for ``postgres_server``
(:mod:`tests.servers.postgres`), as the ``postgres`` user
(``pg_ctl`` refuses root), listening on 127.0.0.1 with a private socket directory, and always
stopped. ``fresh_postgres_database()`` gives each test module its own empty database.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    superuser: str = "postgres"

    def url(self, database: str = "postgres", user: str | None = None,
            password: str | None = None) -> str:
        auth = user or self.superuser
        if password:
            auth += f":{password}"
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        conninfo = f"host={self.host} port={self.port} user={self.superuser} dbname={database}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, prefix: str = "spe") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.admin(f'CREATE DATABASE "{name}"')
        return name

    def create_production_database(self) -> ProductionDatabase:
        """A database set up as docs/production.md prescribes: owned by a role of its own
        that runs the migrations, used by an application role and by the checkpoint
        signer's role, which may only connect (the migrations grant them the rest)."""
        suffix = uuid.uuid4().hex[:10]
        name, owner = f"spe_{suffix}", f"owner_{suffix}"
        app, signer = f"app_{suffix}", f"signer_{suffix}"
        for sql in (f"CREATE ROLE {owner} LOGIN", f"CREATE ROLE {app} LOGIN",
                    f"CREATE ROLE {signer} LOGIN",
                    f"CREATE DATABASE {name} OWNER {owner}",
                    f"REVOKE ALL ON DATABASE {name} FROM PUBLIC",
                    f"GRANT CONNECT ON DATABASE {name} TO {app}, {signer}"):
            self.admin(sql)
        return ProductionDatabase(name, app, self.url(name, user=owner),
                                  self.url(name, user=app), signer,
                                  self.url(name, user=signer))


@dataclass(frozen=True)
class ProductionDatabase:
    name: str
    app_role: str
    owner_url: str  # migrations, and the privileged maintenance (audit purge)
    app_url: str  # what the application connects with
    signer_role: str  # the checkpoint signer's (granted only with upgrade(signer_role=...))
    signer_url: str


def _bindir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: run scripts/test.sh (apt postgresql)")
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str]) -> None:
    cmd = args if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


@contextmanager
def running_postgres(durable: bool = False) -> Iterator[PostgresServer]:
    """``durable`` keeps fsync on (benchmarks); tests run without it, for speed."""
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="spe-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8"])
    opts = f"-h 127.0.0.1 -p {port} -k {sock}"
    if not durable:
        opts += " -c fsync=off -c full_page_writes=off"
    _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                  str(root / "log"), "-w", "-t", "60", "start"])
    try:
        yield PostgresServer("127.0.0.1", port)
    finally:
        try:
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                          "-w", "stop"])
        finally:
            shutil.rmtree(root, ignore_errors=True)
