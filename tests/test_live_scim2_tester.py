"""scim2-tester (RFC 7643/7644 conformance checks) against a real server, on both databases.

``scim2_tester.check_server`` reads the discovery endpoints, composes the
resource models from what the server publishes, then runs create, read, query,
replace, PATCH add/replace/remove and delete checks on every resource type. Every
check must pass: nothing is filtered out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import CheckResult, Status, check_server

import live
from live import LiveServer

pytestmark = pytest.mark.live

# the module-scoped server fixtures of tests/live.py, one server per backend
live_database_url = live.live_database_url
live_server = live.live_server

#: SUCCESS (MUST), COMPLIANT (SHOULD), ACCEPTABLE (MAY) are passes; SKIPPED is kept
#: apart below. ERROR, CRITICAL and DEVIATION are failures.
PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}


@pytest.fixture
def scim_client(live_server: LiveServer) -> Iterator[SyncSCIMClient]:
    with httpx2.Client(base_url=live_server.scim_url, headers=live_server.auth_headers,
                       timeout=30) as http:
        yield SyncSCIMClient(http)


def _describe(result: CheckResult) -> str:
    where = f"[{result.resource_type}] " if result.resource_type else ""
    line = f"- {where}{result.title}: {result.status.name}: {result.reason}"
    if result.data is not None and result.status not in PASSING:
        try:
            data = json.dumps(result.data, default=str)
        except (TypeError, ValueError):
            data = repr(result.data)
        line += f"\n    data: {data[:600]}"
    return line


def test_every_scim2_tester_check_passes(scim_client: SyncSCIMClient) -> None:
    # No client.discover() first: check_server queries the discovery endpoints itself
    # and reports their problems as results instead of raising.
    results = check_server(scim_client)

    assert results, "scim2-tester ran no check at all"
    executed = [r for r in results if r.status is not Status.SKIPPED]
    assert any(r.resource_type == "User" for r in executed), "no User check ran"
    assert any(r.resource_type == "Group" for r in executed), "no Group check ran"

    skipped = [r for r in results if r.status is Status.SKIPPED]
    failing = [r for r in results if r.status not in PASSING and r.status is not Status.SKIPPED]
    message = (f"{len(failing)} of {len(results)} scim2-tester checks failed:\n"
               + "\n".join(_describe(r) for r in failing))
    if skipped:
        message += "\n(skipped by scim2-tester itself:\n" + "\n".join(
            _describe(r) for r in skipped) + ")"
    assert not failing, message
