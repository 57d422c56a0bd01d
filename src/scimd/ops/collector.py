"""Garbage-collector settings for a server process (Python ``gc`` module).

Most of a request's objects die by reference count; the cyclic collector only has to
find cycles. With CPython's defaults it ran far more than that needs: a page of 100
users allocates some 4,000 container objects, so the first generation (threshold
700) was collected six times a page, and the survivors of requests in flight piled
into the oldest generation until a full collection went over every object the
process holds: up to 100 ms each, the p99 of a list page (bench/README.md).

After start-up the process's long-lived objects (modules, schemas, grammars, the
engine) are frozen out of the collector's sight (``gc.freeze``), and the first
generation waits for 10,000 allocations.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Allocations, net of deallocations, between collections of the youngest generation."""


def tune_for_serving() -> None:
    """Collect once, freeze what survives, and raise the first threshold. Call it once
    per server process, after the application is built (``scimd.app.factory``); never
    in a process that builds many applications, such as the test suite, where frozen
    objects would never be freed."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
