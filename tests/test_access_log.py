"""The access log's writer (docs/operations.md, "Access log"; scimd.ops.access_log).

``scimd serve`` configures ``scimd.access`` with one :class:`AccessHandler`; lines are
then written straight to its stream. Every other set-up gets ordinary log records. The
live test in test_operations.py reads the lines of a real server.
"""

from __future__ import annotations

import io
import json
import logging
import re

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


class Served:
    """A logger set up as ``scimd serve`` sets up ``scimd.access``, and what reached it
    by which way: ``direct`` (the handler's stream, no record) or ``records``."""

    def __init__(self, name: str) -> None:
        # Outside logging's registry: pytest gives every registered logger that does not
        # propagate a capture handler of its own, which is "another set-up".
        self.logger = logging.Logger(name)
        self.stream = io.StringIO()
        self.handler = AccessHandler(self.stream)
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.records: list[str] = []
        handle = self.handler.handle

        def counted(record: logging.LogRecord) -> bool:
            self.records.append(record.getMessage())
            return handle(record)

        self.handler.handle = counted  # type: ignore[method-assign]


@pytest.fixture
def served() -> Served:
    return Served("scimd.access")


def test_served_set_up_writes_the_line_without_a_record(served):
    AccessLog(served.logger).write(LINE)
    assert served.stream.getvalue() == LINE + "\n" and served.records == []
    served.logger.info(LINE)  # what the handler writes for a record: the same bytes
    assert served.stream.getvalue() == (LINE + "\n") * 2


def test_serve_configures_the_direct_handler():
    config = log_config(Settings(access_log=True))
    access = config["loggers"]["scimd.access"]
    handler = config["handlers"][access["handlers"][0]]
    assert handler["class"] == "scimd.ops.access_log.AccessHandler"
    assert access["propagate"] is False and len(access["handlers"]) == 1


@pytest.mark.parametrize("change", ["logger filter", "handler filter", "handler level",
                                    "second handler", "propagate"])
def test_any_other_set_up_gets_log_records(served, change):
    others = Records()
    if change == "logger filter":
        served.logger.addFilter(lambda record: True)
    elif change == "handler filter":
        served.handler.addFilter(lambda record: True)
    elif change == "handler level":
        served.handler.setLevel(logging.WARNING)
    elif change == "second handler":
        served.logger.addHandler(others)
    else:
        served.logger.propagate = True
        served.logger.parent = logging.Logger("parent")
        served.logger.parent.addHandler(others)
    AccessLog(served.logger).write(LINE)
    if change == "handler level":  # logging keeps the record from the handler
        assert served.records == [] and served.stream.getvalue() == ""
    else:
        assert served.records == [LINE] and served.stream.getvalue() == LINE + "\n"
    assert others.lines == ([LINE] if change in ("second handler", "propagate") else [])


def test_a_failing_stream_is_reported_once_and_never_raises(served, capsys):
    served.stream.close()
    AccessLog(served.logger).write(LINE)  # nothing reaches the request
    err = capsys.readouterr().err
    assert err.count("Logging error") == 1 and served.records == []


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
    assert line["tenant_id"] is None and line["client"] == "203.0.113.7"


def test_time_is_formatted_anew_each_second():
    ticks = iter([1_700_000_000.25, 1_700_000_000.999, 1_700_000_001.5])
    access = AccessLog(clock=lambda: next(ticks))
    assert [access._time() for _ in range(3)] == [
        "2023-11-14T22:13:20.250Z", "2023-11-14T22:13:20.999Z", "2023-11-14T22:13:21.500Z"]
