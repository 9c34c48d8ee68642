"""The PostgreSQL pool keeps a connection for every concurrent sync between uses.

A pool smaller than ``ASTERISK_SSH_MAX_SESSIONS`` closed the connections that came back beyond
its size and opened new ones a moment later (a new server process each, its caches and prepared
statements lost): several times per live cycle.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, text

from asterisk_pipeline.warehouse.db import make_engine
from tests.support.pg import database_url, new_pg_database, require_postgres


@pytest.mark.postgres
@pytest.mark.parametrize("sessions", [1, 16, 40])
def test_concurrent_sessions_keep_their_connections_between_uses(sessions: int) -> None:
    require_postgres().dispose()
    with new_pg_database("pool") as name:
        engine = make_engine(database_url(name), sessions=sessions)
        opened: list[int] = []
        event.listen(engine, "connect", lambda *_: opened.append(1))
        try:
            for _round in range(3):  # every round, all sessions hold a connection at once
                barrier = threading.Barrier(sessions)

                def one(barrier: threading.Barrier = barrier) -> None:
                    with engine.connect() as conn:
                        conn.execute(text("SELECT 1"))
                        barrier.wait(timeout=30)

                threads = [threading.Thread(target=one) for _ in range(sessions)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            assert len(opened) == sessions  # opened in the first round, reused in the next two
        finally:
            engine.dispose()
