"""The key at each position of a tenant's default order, kept per process.

SCIM pages by position (``startIndex``, RFC 7644 §3.4.2.4), and a database can only
reach position N of an index by walking the N entries before it: at 100,000 users a
page at a random depth walked 50,000 entries on average, 1.1 ms on SQLite and more on
PostgreSQL, while the page's own 100 rows cost 0.16 ms. Identity providers read whole
directories this way, page after page.

So a process keeps, per tenant and resource, the primary keys of all its rows in
order, 8 bytes each, and a page deep in the collection becomes a keyset read that
starts at a known key. The keys carry the tenant's ``stamp`` (``resource_counts``,
migration 0007), a random value the triggers that count rows renew on every insert
and delete, and which a page reads together with the total: keys under another stamp
are never used. Changes to other columns do not move a key, so they do not matter.

Reading all the keys costs about as much as walking ten times as many entries
(28 ms against 2.2 ms for 100,000 on SQLite), so a stale index is rebuilt only once
the entries walked since it went stale add up to ``patience`` times the tenant's
total (ski rental): a tenant whose users change all the time pays at most about
twice what walking alone would cost, and one that is read more than written walks
for a while after each change, then reads from its keys.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence

SHALLOW = 1_000
"""Pages that start closer to the front than this walk: it costs microseconds."""

MAX_KEYS = 4_000_000
"""Keys a process keeps over all tenants (32 MB); least recently read tenants go first."""

PATIENCE = 10.0
"""Rebuild once the entries walked add up to this many times the tenant's total."""


class Positions:
    """Per-tenant keys in the default order, for one database (see the module docstring).

    Thread-safe: PostgreSQL reads run on worker threads, SQLite reads on the event loop.
    """

    def __init__(self, *, shallow: int = SHALLOW, max_keys: int = MAX_KEYS,
                 patience: float = PATIENCE) -> None:
        self.shallow = shallow
        self.max_keys = max_keys
        self.patience = patience
        self._lock = threading.Lock()
        self._keys: OrderedDict[tuple[str, str], tuple[int, array]] = OrderedDict()
        self._walked: dict[tuple[str, str], int] = {}
        self._held = 0

    def key_at(self, resource: str, tenant_id: str, stamp: int, total: int, offset: int,
               load: Callable[[], Sequence[int]]) -> int | None:
        """The key at ``offset`` (0-based) when it is known under ``stamp``, else ``None``
        and the caller walks the index. ``load`` reads all the tenant's keys in order;
        it runs when a rebuild pays off. On SQLite it reads in the same snapshot as
        ``stamp``; on PostgreSQL (autocommit) it may see a later state, whose stamp
        differs from ``stamp``, so those keys are simply never used."""
        if offset < self.shallow or offset >= total or total > self.max_keys:
            return None
        slot = (resource, tenant_id)
        with self._lock:
            found = self._keys.get(slot)
            if found is not None and found[0] == stamp and len(found[1]) == total:
                self._keys.move_to_end(slot)
                return found[1][offset]
            walked = self._walked.get(slot, 0) + offset
            if walked < self.patience * total:
                self._walked[slot] = walked
                return None
            self._walked.pop(slot, None)
        keys = load()  # outside the lock: other tenants' pages go on
        if not isinstance(keys, array):
            keys = array("q", keys)
        self._keep(slot, stamp, keys)
        return keys[offset] if offset < len(keys) else None

    def forget(self, resource: str, tenant_id: str) -> None:
        """Drop a tenant's keys: a page found they did not match its rows."""
        with self._lock:
            found = self._keys.pop((resource, tenant_id), None)
            if found is not None:
                self._held -= len(found[1])

    def _keep(self, slot: tuple[str, str], stamp: int, keys: array) -> None:
        with self._lock:
            old = self._keys.pop(slot, None)
            if old is not None:
                self._held -= len(old[1])
            while self._keys and self._held + len(keys) > self.max_keys:
                _, (_, evicted) = self._keys.popitem(last=False)
                self._held -= len(evicted)
            self._keys[slot] = (stamp, keys)
            self._held += len(keys)

    @property
    def held(self) -> int:
        """How many keys the process keeps now."""
        return self._held
