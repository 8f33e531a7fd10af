"""The suite's throwaway servers: ready on a free port, and gone with whoever started them, even
when that process is SIGKILLed (as a test run stopped by a timeout is)."""

from __future__ import annotations

import sys
from pathlib import Path

import asyncpg
import psutil

from devstack import Child
from tests.support import eventually

STARTER = """
import sys, time
from devstack.servers import NatsServer, PostgresServer, RedisServer
servers = [PostgresServer().start(), RedisServer().start(), NatsServer().start()]
print(*(s.child.pid for s in servers), servers[0].url, flush=True)
time.sleep(600)
"""


async def test_servers_answer_and_die_with_a_killed_starter(tmp_path: Path) -> None:
    log = tmp_path / "starter.log"
    starter = Child("starter", [sys.executable, "-c", STARTER], {"PATH": "/usr/bin:/bin"}, log=log)
    starter.start()
    try:
        line = await eventually(lambda: log.read_text().strip(), timeout=60, what="the servers")
        *pids, postgres_url = line.split()
        conn = await asyncpg.connect(f"{postgres_url}/postgres")
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
        servers = [psutil.Process(int(pid)) for pid in pids]
        tree = [p for server in servers for p in (server, *server.children(recursive=True))]
    finally:
        starter.kill()

    def all_gone() -> bool:
        return not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    await eventually(all_gone, timeout=15, what="every server process gone")
