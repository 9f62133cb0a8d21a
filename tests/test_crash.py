"""Crash safety: kill -9 the real gunicorn during a storm of teaches, ten times in a row.

One instance folder lives through ten cycles.  In each, gunicorn (two workers, as in
the README) serves several connections that keep two teaches in flight each; when the
clients have received a number of ``taught`` acknowledgements drawn from a seeded RNG,
the whole process group is killed with SIGKILL, so teaches are cut off mid-transaction
at a moment no sleep chose.  Then, before and after restarting on the same folder:

- the database is not torn (SQLite's ``PRAGMA integrity_check`` is ``ok``) and is
  consistent with itself (one version per accepted drawing, the counter of accepted
  drawings equal to the rows);
- every acknowledged teach is there: its drawing with its label and the version it
  produced, at least as many samples as acknowledgements, the newest version at least
  the newest acknowledged one;
- the instance loads: ``/healthz`` answers 200 with the newest version, and a fresh
  connection predicts with it.

Half the connections are writers: their drawings must all be there for them too.  The
shared model learns every teach (``LEARN_EVERYTHING``: no guard, no agreement, no
budgets) so that every teach makes a version and the counts are exact.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import urllib.request

import pytest
from support.drawings import draw_digit
from support.servers import LEARN_EVERYTHING
from support.wsclient import WAIT, Closed, WSClient

from webapp.store.sqlite import DATABASE_NAME

pytestmark = [pytest.mark.gunicorn, pytest.mark.slow]

CYCLES = 10
CONNECTIONS = 6
IN_FLIGHT = 2
"""Teaches each connection keeps in flight, so the kill always cuts some off."""
ACKS_BEFORE_KILL = (1, 20)
"""The kill comes after a number of acknowledgements drawn from this range (per cycle)."""
ENV = LEARN_EVERYTHING


def get_json(url: str) -> tuple[int, dict]:
    """GET a JSON URL; return (status, body)."""
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        return response.status, json.loads(response.read())


class Storm:
    """Connections teaching as fast as the server answers, until the server dies."""

    def __init__(self, ws_url: str, cycle: int):
        self.cycle = cycle
        self.acks: list[dict] = []  # every `taught` received, in arrival order
        self.failures: list[BaseException] = []
        self.killed = threading.Event()
        self.cond = threading.Condition()
        self.clients = []
        self.writers = [f"crash-writer-{cycle:02d}-{i}" if i % 2 == 0 else None
                        for i in range(CONNECTIONS)]
        try:
            for writer in self.writers:
                url = ws_url + (f"?writer={writer}" if writer else "")
                self.clients.append(WSClient(url, timeout=120))
            for ws in self.clients:
                assert ws.recv()["type"] == "hello"
        except BaseException:
            self.close()
            raise
        self.threads = [threading.Thread(target=self._teach, args=(i, ws), daemon=True)
                        for i, ws in enumerate(self.clients)]

    def __repr__(self) -> str:
        return f"Storm(cycle={self.cycle}, acks={len(self.acks)})"

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _teach(self, i: int, ws: WSClient) -> None:
        seq = 0
        try:
            while True:
                burst, labels = [], {}
                for _ in range(IN_FLIGHT):
                    digit = (i + seq + self.cycle) % 10
                    burst += [{"type": "ink", "strokes": draw_digit(digit), "seq": seq + 1},
                              {"type": "teach", "label": digit, "seq": seq + 2}]
                    labels[seq + 2] = digit
                    seq += 2
                ws.send_burst(burst)
                while labels:
                    m = ws.recv()
                    if m["type"] in ("prediction", "model"):
                        continue
                    assert m["type"] == "taught", m
                    assert m["label"] == labels.pop(m["seq"]), m
                    with self.cond:
                        self.acks.append({**m, "by": self.writers[i]})
                        self.cond.notify_all()
        except (Closed, OSError, TimeoutError) as exc:
            if not self.killed.is_set():
                self.failures.append(exc)
        except BaseException as exc:  # reported by the test's thread
            self.failures.append(exc)

    def wait_for_acks(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` acknowledgements arrived (or a connection failed)."""
        with self.cond:
            return self.cond.wait_for(
                lambda: len(self.acks) >= count or self.failures, timeout)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(WAIT)
            assert not thread.is_alive(), "a client kept waiting on a killed server"

    def close(self) -> None:
        for ws in self.clients:
            ws.close()


def check_database(path) -> dict:
    """Check the database file is whole and self-consistent; return its facts."""
    db = sqlite3.connect(path)
    try:
        per_writer = dict(db.execute("SELECT writer, count(*) FROM drawings "
                                     "WHERE writer IS NOT NULL GROUP BY writer").fetchall())
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        versions = [v for (v,) in db.execute("SELECT version FROM versions ORDER BY version")]
        produced = dict(db.execute(
            "SELECT version, label FROM drawings WHERE status = 'accepted'").fetchall())
        (counter,) = db.execute("SELECT value FROM meta WHERE key = 'accepted'").fetchone()
        (quarantined,) = db.execute(
            "SELECT count(*) FROM drawings WHERE status != 'accepted'").fetchone()
    finally:
        db.close()
    latest = versions[-1]
    assert quarantined == 0  # the guard is off
    assert int(counter) == len(produced), "the count of samples disagrees with the rows"
    # One transaction per teach: every version after the seed has its drawing, and back.
    assert sorted(produced) == list(range(2, latest + 1))
    assert versions == list(range(max(1, latest - len(versions) + 1), latest + 1))
    return {"latest": latest, "produced": produced, "per_writer": per_writer}


def test_kill_9_ten_times_during_a_storm_of_teaches(make_gunicorn, tmp_path):
    instance = tmp_path / "instance"
    database = instance / DATABASE_NAME
    rng = random.Random(20261121)
    acked: list[dict] = []  # every acknowledgement of every cycle
    for cycle in range(CYCLES):
        server = make_gunicorn(instance, **ENV)
        status, health = get_json(server.url + "/healthz")
        assert status == 200 and health["status"] == "ok"
        storm = Storm(server.ws_url, cycle)
        try:
            storm.start()
            kill_after = rng.randint(*ACKS_BEFORE_KILL)
            assert storm.wait_for_acks(kill_after, timeout=120), f"cycle {cycle}: too slow"
            assert not storm.failures, storm.failures
            storm.killed.set()
            server.kill9()  # master and workers at once, teaches in flight
            storm.join()
        finally:
            storm.close()
        assert not storm.failures, storm.failures
        assert len(storm.acks) >= kill_after
        acked += storm.acks
        assert "Traceback" not in server.log(), server.log()

        # The files as the kill left them: whole, consistent, nothing acknowledged missing.
        facts = check_database(database)
        assert facts["latest"] >= max(m["model_version"] for m in acked)
        assert len(facts["produced"]) >= len(acked)
        for m in acked:
            assert facts["produced"].get(m["model_version"]) == m["label"], \
                f"cycle {cycle}: acknowledged teach {m} is missing"
        assert max(m["samples"] for m in acked) <= len(facts["produced"])
        for writer in {m["by"] for m in acked if m["by"]}:  # personal teaches, all there
            mine = [m for m in acked if m["by"] == writer]
            assert facts["per_writer"].get(writer, 0) >= len(mine)
            assert max(m["writer"]["samples"] for m in mine) <= facts["per_writer"][writer]

    # The instance loads after the tenth kill too, and serves the newest version.
    final = check_database(database)
    server = make_gunicorn(instance, **ENV)
    status, health = get_json(server.url + "/healthz")
    assert status == 200 and health["model_version"] == final["latest"]
    _, info = get_json(server.url + "/api/model")
    assert info["version"] == final["latest"] and info["samples"] >= len(acked)
    ws = WSClient(server.ws_url)
    try:
        assert ws.recv()["model"]["version"] == final["latest"]
        reply = ws.request({"type": "ink", "strokes": draw_digit(3)})
        assert reply["type"] == "prediction" and reply["model_version"] == final["latest"]
    finally:
        ws.close()
