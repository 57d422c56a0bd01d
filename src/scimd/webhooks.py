"""Webhooks: every audit event of a tenant, POSTed as JSON to a URL of its operator's.

Each delivery is signed with HMAC-SHA256 over ``"<timestamp>.<body>"`` in the header
``Scimd-Signature: t=<timestamp>,v1=<hex>`` (the receiver recomputes it with the
webhook's secret and rejects stale timestamps). Events go out in the order of the
audit log, so in order per resource; a failed delivery is retried with exponential
backoff (1 s, 2 s, 4 s ... up to 5 minutes) before anything after it is sent. A
webhook's progress (its cursor, attempts, last status and error) is its delivery
state, shown by ``scimd webhook status``. Any number of server processes may run
the dispatcher: a short lease on the webhook's row makes one of them deliver it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sqlalchemy import Connection, insert, or_, select, update

from scimd.scim.values import DATETIME_FORMAT
from scimd.store import audit
from scimd.store import tables as t
from scimd.store.common import new_id, now
from scimd.store.db import Database

log = logging.getLogger("scimd.webhooks")
MAX_BACKOFF = 300.0
LEASE = 30.0
BATCH = 50
SIGNATURE_HEADER = "Scimd-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Scimd-Signature`` header value of a delivery."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, tolerance: float = 300.0) -> bool:
    """Check a signature as a receiver should: right key, fresh timestamp."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def _later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime(DATETIME_FORMAT)


def add(conn: Connection, tenant_pk: int, url: str) -> tuple[str, str]:
    """Register a webhook; it receives the events from now on. Answers its id and secret."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("the URL must be http:// or https://")
    last = conn.execute(select(t.audit_events.c.pk).where(t.audit_events.c.tenant_pk == tenant_pk)
                        .order_by(t.audit_events.c.pk.desc()).limit(1)).scalar()
    hook_id, secret = new_id("H"), "whsec_" + secrets.token_urlsafe(24)
    conn.execute(insert(t.webhooks).values(id=hook_id, tenant_pk=tenant_pk, url=url,
                                           secret=secret, created_at=now(), cursor=last or 0))
    return hook_id, secret


def status(conn: Connection, tenant_pk: int) -> list[dict]:
    w = t.webhooks
    newest = conn.execute(select(t.audit_events.c.pk).where(
        t.audit_events.c.tenant_pk == tenant_pk).order_by(t.audit_events.c.pk.desc())
        .limit(1)).scalar() or 0
    rows = conn.execute(select(w).where(w.c.tenant_pk == tenant_pk).order_by(w.c.pk))
    out = []
    for r in rows:
        pending = conn.execute(select(t.audit_events.c.pk).where(
            t.audit_events.c.tenant_pk == tenant_pk, t.audit_events.c.pk > r.cursor)
            .limit(1000)).all()
        out.append({"id": r.id, "url": r.url, "delivered": r.delivered,
                    "pending": len(pending), "cursor": str(r.cursor),
                    "newest_event": str(newest), "attempts": r.attempts,
                    "next_attempt_at": r.next_attempt_at, "last_status": r.last_status,
                    "last_error": r.last_error, "last_delivered_at": r.last_delivered_at})
    return out


def remove(conn: Connection, hook_id: str) -> bool:
    return conn.execute(t.webhooks.delete().where(t.webhooks.c.id == hook_id)).rowcount == 1


class Dispatcher:
    """Delivers pending events of every webhook; ``run_once`` is one pass."""

    def __init__(self, db: Database, *, timeout: float = 10.0,
                 client: httpx.Client | None = None) -> None:
        self.db = db
        self.client = client or httpx.Client(timeout=timeout)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Deliver what is due; answers the number of events delivered."""
        delivered = 0
        with self.db.read() as conn:
            w = t.webhooks
            due = [r.pk for r in conn.execute(select(w.c.pk).where(
                or_(w.c.next_attempt_at.is_(None), w.c.next_attempt_at <= now())))]
        for pk in due:
            if self._stop.is_set():
                break
            delivered += self._deliver(pk)
        return delivered

    def _claim(self, pk: int) -> bool:
        w = t.webhooks
        with self.db.write() as conn:
            stamp = now()
            return conn.execute(update(w).where(
                w.c.pk == pk, or_(w.c.lease_until.is_(None), w.c.lease_until < stamp))
                .values(lease_until=_later(LEASE))).rowcount == 1

    def _deliver(self, pk: int) -> int:
        if not self._claim(pk):
            return 0
        w = t.webhooks
        sent = 0
        try:
            with self.db.read() as conn:
                hook = conn.execute(select(w).where(w.c.pk == pk)).first()
                if hook is None:
                    return 0
                events = audit.events(conn, hook.tenant_pk, after=hook.cursor, limit=BATCH)
            for event in events:
                error, code = self._post(hook.url, hook.secret, event)
                with self.db.write() as conn:
                    if error is None:
                        conn.execute(update(w).where(w.c.pk == pk).values(
                            cursor=int(event["id"]), attempts=0, next_attempt_at=None,
                            delivered=w.c.delivered + 1, last_status=code, last_error=None,
                            last_delivered_at=now()))
                        sent += 1
                        continue
                    attempts = hook.attempts + 1
                    conn.execute(update(w).where(w.c.pk == pk).values(
                        attempts=attempts, last_status=code, last_error=error[:500],
                        next_attempt_at=_later(min(2 ** (attempts - 1), MAX_BACKOFF))))
                break  # in order: nothing after a failed event goes out before it
        finally:
            with self.db.write() as conn:
                conn.execute(update(w).where(w.c.pk == pk).values(lease_until=None))
        return sent

    def _post(self, url: str, secret: str, event: dict) -> tuple[str | None, int | None]:
        body = orjson.dumps(event)
        headers = {"Content-Type": "application/json", "User-Agent": "scimd-webhooks",
                   SIGNATURE_HEADER: sign(secret, int(time.time()), body),
                   "Scimd-Event-Id": event["id"]}
        try:
            response = self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}", None
        if 200 <= response.status_code < 300:
            return None, response.status_code
        return f"HTTP {response.status_code}", response.status_code

    # -- background thread in the server ------------------------------------------------

    def start(self, interval: float = 1.0) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.run_once()
                except Exception:  # keep delivering after a passing database error
                    log.exception("webhook delivery pass failed")

        self._thread = threading.Thread(target=loop, name="scimd-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.client.close()
