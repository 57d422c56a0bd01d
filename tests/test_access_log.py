"""The access log's writer (docs/operations.md, "Access log"; scimd.ops.access_log).

``scimd serve`` configures ``scimd.access`` with one :class:`AccessHandler`; lines are
then written straight to its stream. Every other set-up gets ordinary log records. The
live test in test_operations.py reads the lines of a real server.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
from collections.abc import Iterator

import pytest

from scimd.observability import log_config
from scimd.ops.access_log import AccessHandler, AccessLog
from scimd.settings import Settings

LINE = '{"request_id":"r-1","status":200}'


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A fresh logger set up as ``scimd serve`` sets up ``scimd.access``."""
    name = f"scimd-test-access-{id(object())}"
    log = logging.getLogger(name)
    stream = io.StringIO()
    handler = AccessHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log
    log.handlers.clear()


def _stream(log: logging.Logger) -> io.StringIO:
    return log.handlers[0].stream  # type: ignore[attr-defined]


def test_served_set_up_writes_the_same_bytes_as_logging(logger):
    direct = AccessLog(logger)
    direct.write(LINE)
    written = _stream(logger).getvalue()
    logger.info(LINE)  # what the handler itself writes for a record
    assert written == LINE + "\n"
    assert _stream(logger).getvalue() == written * 2


def test_serve_configures_the_direct_handler():
    config = log_config(Settings(access_log=True))
    handler = config["handlers"][config["loggers"]["scimd.access"]["handlers"][0]]
    assert handler["class"] == "scimd.ops.access_log.AccessHandler"
    assert config["loggers"]["scimd.access"]["propagate"] is False


@pytest.mark.parametrize("change", ["filter", "second handler", "propagate", "handler level"])
def test_any_other_set_up_gets_log_records(logger, change):
    records = Records()
    if change == "filter":
        logger.addFilter(lambda record: True)
        logger.addHandler(records)
    elif change == "second handler":
        logger.addHandler(records)
    elif change == "propagate":
        logger.propagate = True
        parent = logging.getLogger()
        parent.addHandler(records)
    else:
        logger.handlers[0].setLevel(logging.WARNING)
        logger.addHandler(records)
    try:
        AccessLog(logger).write(LINE)
    finally:
        logging.getLogger().removeHandler(records)
    assert records.lines == [LINE]
    # the access handler saw the record too, unless its level keeps it out
    expected = "" if change == "handler level" else LINE + "\n"
    assert _stream(logger).getvalue() == expected


def test_a_failing_stream_falls_back_to_logging_which_reports_it(logger, capsys):
    _stream(logger).close()
    AccessLog(logger).write(LINE)  # no exception reaches the request
    assert "Logging error" in capsys.readouterr().err


def test_a_logger_above_info_is_not_enabled():
    log = AccessLog(logging.getLogger("scimd-test-access-off"))
    log.logger.setLevel(logging.CRITICAL)
    assert not log.enabled()


def test_line_fields_and_time():
    access = AccessLog()
    line = json.loads(access.line(request_id="r-2", method="GET", route="/scim/v2/Users",
                                  status=404, duration=0.0123456, tenant_id=None,
                                  client="203.0.113.7"))
    assert list(line) == ["time", "request_id", "method", "route", "status", "duration_ms",
                          "tenant_id", "client"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line["duration_ms"] == 12.346 and line["status"] == 404
    assert line["tenant_id"] is None


def test_time_is_formatted_anew_each_second(monkeypatch):
    access = AccessLog()
    clock = iter([1_700_000_000.25, 1_700_000_000.999, 1_700_000_001.5])
    monkeypatch.setattr("scimd.ops.access_log.time.time", lambda: next(clock))
    assert access._time() == "2023-11-14T22:13:20.250Z"
    assert access._time() == "2023-11-14T22:13:20.999Z"
    assert access._time() == "2023-11-14T22:13:21.500Z"
