"""The operator's view of the taught drawings: list, export, approve, delete, set aside.

A part of ``SQLStore`` (mixed in), in the same SQL; the commands are ``inkling
drawings`` and ``inkling export`` (``webapp.cli``).
"""

from __future__ import annotations

import json

import numpy as np

from . import images_from_blobs

DRAWING_COLUMNS = ("id, created, writer, source, label, predicted, seen, base_version, "
                   "version, status, reason, strokes")


class OperatorQueries:
    """Drawings for the operator; needs the SQLStore's ``connections``, ``_q`` and
    ``_new_revision``."""

    def export_samples(self, writer=None, statuses=None):
        with self.connections.borrow() as connection:
            if statuses is not None:
                query = (f"SELECT image, label FROM drawings WHERE status IN "
                         f"({', '.join('?' * len(statuses))})")
                params = list(statuses)
                if writer is not None:
                    query += " AND writer = ?"
                    params.append(writer)
                rows = self._q(connection, query + " ORDER BY id", params).fetchall()
            elif writer is None:
                rows = self._q(connection, "SELECT image, label FROM drawings WHERE status = "
                               "'accepted' ORDER BY id").fetchall()
            else:
                rows = self._q(connection, "SELECT image, label FROM drawings WHERE writer = ? "
                               "AND status <> 'quarantined' ORDER BY id", (writer,)).fetchall()
        return (images_from_blobs([image for image, _ in rows]),
                np.array([label for _, label in rows], dtype=np.uint8))

    def pending_drawing(self, drawing_id):
        with self.connections.borrow() as connection:
            row = self._q(connection, "SELECT strokes, image, label, writer, source FROM "
                          "drawings WHERE id = ? AND status = 'pending'",
                          (int(drawing_id),)).fetchone()
        if row is None:
            return None
        strokes, image, label, writer, source = row
        return {"strokes": [np.asarray(s, dtype=np.float64) for s in json.loads(strokes)]
                if strokes else [], "image": images_from_blobs([image])[0],
                "label": int(label), "writer": writer, "source": source}

    def drawings(self, writer=None, status=None, limit=None):
        where, args = [], []
        if writer is not None:
            where.append("writer = ?")
            args.append(writer)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        query = f"SELECT {DRAWING_COLUMNS} FROM drawings"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self.connections.borrow() as connection:
            cursor = self._q(connection, query, args)
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        out = [dict(zip(names, row, strict=True)) for row in rows]
        for drawing in out:
            drawing["strokes"] = json.loads(drawing["strokes"]) if drawing["strokes"] else None
        return out

    def delete_drawings(self, ids):
        return self._take_out(ids, "DELETE FROM drawings WHERE id IN ({marks})")

    def quarantine(self, ids, reason):
        return self._take_out(ids, "UPDATE drawings SET status = 'quarantined', reason = ? "
                              "WHERE status <> 'quarantined' AND id IN ({marks})", reason)

    def _take_out(self, ids, statement: str, *before_ids) -> int:
        """Run ``statement`` (its ``{marks}`` the ids' placeholders) on drawings by id in
        one write; keep the accepted count, and tell workers the writers' memories
        changed.  Returns the rows it changed."""
        ids = sorted({int(i) for i in ids})
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with self.connections.write() as connection:
            writers = [w for (w,) in self._q(connection, "SELECT DISTINCT writer FROM "
                                             f"drawings WHERE id IN ({marks}) AND writer IS "
                                             "NOT NULL", ids)]
            (accepted,) = self._q(connection, "SELECT count(*) FROM drawings WHERE status = "
                                  f"'accepted' AND id IN ({marks})", ids).fetchone()
            changed = self._q(connection, statement.format(marks=marks),
                              (*before_ids, *ids)).rowcount
            self._q(connection, "UPDATE meta SET value = CAST(CAST(value AS INTEGER) - ? AS "
                    "TEXT) WHERE key = 'accepted'", (int(accepted),))
            for writer in writers:
                self._new_revision(connection, writer)
        return changed

    def counts(self):
        with self.connections.borrow() as connection:
            rows = self._q(connection, "SELECT status, count(*) FROM drawings "
                           "GROUP BY status").fetchall()
        return {status: 0 for status in ("accepted", "pending", "refused", "quarantined")} | \
            {status: int(n) for status, n in rows}
