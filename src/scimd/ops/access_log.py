"""The access log: one JSON line per request on the ``scimd.access`` logger
(docs/operations.md, "Access log").

Through :mod:`logging` the line cost 40 µs of a 200 µs SQLite GET in process
(bench/README.md, section 7): a ``LogRecord``, the caller's frame, a formatter, for a
line that is finished already.
``scimd serve`` gives the logger one :class:`AccessHandler`; while that is its only way
out, :class:`AccessLog` writes the lines to the handler's stream itself, the same bytes
the handler would write. Any other set-up (a test's ``caplog``, an application that
embeds scimd with handlers of its own) gets ordinary log records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

LOGGER = logging.getLogger("scimd.access")


class AccessHandler(logging.StreamHandler):
    """The access log's handler in ``scimd serve``: a plain stream handler whose lines
    :class:`AccessLog` may also write directly, as its ``%(message)s`` formatter would
    (lines written directly do not go through any other formatter it is given)."""

    def write_line(self, line: str) -> None:
        """Write one finished line; a failure is reported as ``emit`` reports one."""
        try:
            with self.lock:  # type: ignore[union-attr]  # set by Handler.__init__
                self.stream.write(line + self.terminator)
                self.stream.flush()
        except Exception:
            self.handleError(logging.makeLogRecord({"name": "scimd.access", "msg": line}))


class AccessLog:
    """Writes access lines (see the module docstring)."""

    def __init__(self, logger: logging.Logger = LOGGER,
                 clock: Callable[[], float] = time.time) -> None:
        self.logger = logger
        self.clock = clock
        self._stamp: tuple[int, str] = (-1, "")

    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def write(self, line: str) -> None:
        logger = self.logger
        handlers = logger.handlers
        if (len(handlers) == 1 and type(handler := handlers[0]) is AccessHandler
                and not logger.propagate and not logger.filters and not handler.filters
                and handler.level <= logging.INFO):
            handler.write_line(line)
        else:
            logger.info(line)

    def line(self, *, request_id: str, method: str, route: str, status: int,
             duration: float, tenant_id: str | None, client: str | None) -> str:
        """The JSON line of one request; ``time`` is when its answer was complete (UTC)."""
        return orjson.dumps({
            "time": self._time(), "request_id": request_id, "method": method,
            "route": route, "status": status, "duration_ms": round(duration * 1000, 3),
            "tenant_id": tenant_id, "client": client,
        }).decode()

    def _time(self) -> str:
        """``2025-03-04T10:15:02.118Z``, the seconds formatted once a second."""
        now = self.clock()
        second = int(now)
        stamp = self._stamp
        if stamp[0] != second:
            stamp = self._stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S",
                                                         time.gmtime(second)))
        return f"{stamp[1]}.{int((now - second) * 1000):03d}Z"


def handler_config(stream: str) -> dict[str, Any]:
    """The ``logging.config`` entry of the access log's handler, on ``stream``."""
    return {"class": f"{__name__}.AccessHandler", "formatter": "scimd_access",
            "stream": stream}
