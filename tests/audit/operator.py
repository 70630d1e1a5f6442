"""What a database superuser can do to the audit tables, done as they would: triggers
switched off on PostgreSQL, hashes recomputed so that everything the database holds is
consistent again. Only what is kept outside the database (a trusted checkpoint, a witness)
or the age of the unsigned leaves can then give it away."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from spe.audit import encoding, merkle


@contextmanager
def superuser(engine: Engine):
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # no triggers
        yield conn


def rebuild_tree(conn: Connection) -> None:
    """Recompute every subtree hash and the head from the stored leaf hashes."""
    hashes = [h for (h,) in conn.execute(text("SELECT leaf_hash FROM audit_leaf ORDER BY seq"))]
    frontier: list[bytes] = []
    nodes = []
    for i, h in enumerate(hashes):
        frontier, created = merkle.append(frontier, i, h)
        nodes += [{"l": lv, "i": ix, "h": hh} for lv, ix, hh in created]
    conn.execute(text("DELETE FROM audit_node"))
    if nodes:
        conn.execute(text('INSERT INTO audit_node (level, "index", hash) VALUES (:l, :i, :h)'),
                     nodes)
    conn.execute(text("UPDATE audit_head SET size = :s, frontier = :f"),
                 {"s": len(hashes), "f": b"".join(frontier)})


def cut_tail(engine: Engine, size: int) -> None:
    """Delete every event from ``size`` on, the checkpoints past it, and recompute."""
    with superuser(engine) as conn:
        for table in ("audit_event", "audit_leaf"):
            conn.execute(text(f"DELETE FROM {table} WHERE seq >= :s"), {"s": size})  # noqa: S608
        conn.execute(text("DELETE FROM audit_checkpoint WHERE tree_size > :s"), {"s": size})
        rebuild_tree(conn)


def delete_checkpoints(engine: Engine) -> None:
    with superuser(engine) as conn:
        conn.execute(text("DELETE FROM audit_checkpoint"))


def rewrite_event(engine: Engine, seq: int, action: str) -> None:
    """Change one event's action and recompute its commitment, its leaf hash and the tree;
    drop the checkpoints that no longer match (the key to re-sign them is not in the
    database)."""
    with superuser(engine) as conn:
        event = dict(conn.execute(text("SELECT * FROM audit_event WHERE seq = :s"),
                                  {"s": seq}).mappings().one())
        leaf = conn.execute(text("SELECT version, ts FROM audit_leaf WHERE seq = :s"),
                            {"s": seq}).one()
        fields = {name: event[name] for name in encoding.BODY_FIELDS}
        fields["action"] = action
        fields["ts"] = _ts(event["ts"])
        if isinstance(fields["details"], str):
            import json

            fields["details"] = json.loads(fields["details"])
        salt = bytes(event["salt"])
        commitment = encoding.commitment(salt, encoding.body_bytes(fields, leaf.version))
        leaf_hash = merkle.leaf_hash(encoding.leaf_bytes(seq, _ts(leaf.ts), commitment,
                                                         leaf.version))
        conn.execute(text("UPDATE audit_event SET action = :a WHERE seq = :s"),
                     {"a": action, "s": seq})
        conn.execute(text("UPDATE audit_leaf SET commitment = :c, leaf_hash = :h "
                          "WHERE seq = :s"), {"c": commitment, "h": leaf_hash, "s": seq})
        conn.execute(text("DELETE FROM audit_checkpoint WHERE tree_size > :s"), {"s": seq})
        rebuild_tree(conn)


def _ts(value) -> str:
    """A stored time (SQLite text or a PostgreSQL datetime) as the encoding's text."""
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return encoding.format_ts(value)
