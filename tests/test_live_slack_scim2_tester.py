"""scim2-tester against a ``slack``-dialect server: exactly the checks Slack's rules fail.

An ``rfc`` tenant passes every scim2-tester check (test_live_scim2_tester.py). A
``slack`` tenant answers as Slack does, and some of Slack's rules contradict RFC
7643/7644. This test runs the whole of scim2-tester against a slack tenant and
asserts that the checks that fail are exactly :data:`SLACK_FAILURES`, each mapped to
the Slack rule (spec section) that fails it. A check that starts passing, or a new
failure, fails the test: update the constant and the scim2-tester section of
docs/compatibility.md together (the test also checks that the document names every
failing check).

Run as is, ``check_server`` stops after discovery: Slack's discovery documents keep
Slack's shapes (``specUrl``, ``xmlDataFormat``; spec §10), which scim2-models refuses,
and without a description of the server scim2-tester runs no resource check. So the
client is given, before ``check_server`` runs, the description the server publishes:
its ServiceProviderConfig, ``/ResourceTypes`` and ``/Schemas`` documents read with
``ScimPolicy(unknown=ignore)``, composed into resource models (``ScimProvider.
from_discovery``). ``check_server`` keeps a description the client already has; its
strict checks of the discovery endpoints still run, and still report what they find.
Every Slack attribute and extension is exercised. One more thing is given:
usernames Slack accepts: scim2-tester fills ``userName`` with a UUID, 36 characters,
and Slack refuses more than 21 (spec §3.2, ``username_too_long``), which would fail
every User check at its first step. scim2-tester uses a field's ``examples`` when it
has some, so the composed ``userName`` field gets :class:`SlackUserNames`.

Every check runs against the server as published; nothing is filtered out.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import (
    Context,
    ResourceType,
    Schema,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
)
from scim2_tester import CheckResult, Status, check_server

from live import LiveServer

COMPATIBILITY_DOC = Path(__file__).resolve().parents[1] / "docs" / "compatibility.md"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PROFILE_URN = "urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User"

#: SUCCESS (MUST), COMPLIANT (SHOULD), ACCEPTABLE (MAY) are passes; SKIPPED is neither.
PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}

Check = tuple[str | None, str]
"""A scim2-tester check: (resource type, or ``None`` for discovery; check title)."""

WHOLE = None
"""The subject of a check that fails as a whole. The PATCH checks (``check_add_attribute``,
``check_remove_attribute``, ``check_replace_attribute``) report one result per attribute;
their subject is the attribute path (``data["urn"]``)."""

# The rules, as they fail the checks (spec sections of /work/shared/spec/slack-scim.md).
_NO_EXTERNAL_ID = ("§3.2, §12: Slack keeps no externalId; it is ignored on write and "
                   "always returned as \"\"")
_NICKNAME = ("§3.2: nickName is the username (at most 21 characters); the random "
             "36-character value is refused with 400 long_username")
_PASSWORD = ("§3.2, §13.13: a password can only be set at creation; 403 "
             "password_change_not_allowed")
_PHOTOS = ("§3.2: one photo is kept, answered as {value, type: \"photo\"} only (no "
           "primary; type is always \"photo\")")
_ADDRESSES = ("§3.2, §13.8: one address is kept, answered with its five sub-attributes "
              "only (type and primary are not stored)")
_PHONES = ("§3.2, §6.3: phones map to primaryPhone and mobilePhone and are always "
           "answered as [{value, type: \"mobile\"}, {value, primary: true}]")
_ROLES = ("§3.2: one role is kept, always answered with primary: true (fails when "
          "scim2-tester happens to send primary: false)")
_MANAGER = ("§3.2, §16.22: manager is answered as {managerId}; the manager.value that "
            "scimd accepts as an alias of managerId (returned: never) is not echoed")
_ENTERPRISE_MANAGER = "§3.2, §16.22: the manager inside it, as for the manager path"
_ALWAYS = "§3.3, §16.8: Slack answers the full attribute set"
_NO_MEMBER_REF = ("§4.1, §4.2: members are {value, display} without $ref or type, so "
                  "scim2-tester cannot tell that value must be a user id and sends a random "
                  "one: 400 no_such_group_members")

#: Every check scim2-tester fails against a slack tenant: for each check, its failing
#: subjects (an attribute path, or WHOLE) and the Slack rule that fails them.
SLACK_FAILURES: dict[Check, dict[str | None, str]] = {
    (None, "service_provider_config_endpoint"): {
        WHOLE: "§10.1, §16.25: Slack's ServiceProviderConfig has no schemas and keeps "
               "authenticationSchemes[].specUrl and xmlDataFormat (not in RFC 7643 §5)",
    },
    (None, "query_all_resource_types"): {
        WHOLE: "§10.2, §16.25: Slack's /ResourceTypes is a ListResponse of schemas and "
               "Resources only, without the totalResults RFC 7644 §3.4.2 requires",
    },
    ("User", "object_replacement"): {
        WHOLE: "§3.2, §13.13: the PUT carries the write-only password; Slack sets a password "
               "only at creation: 403 password_change_not_allowed",
    },
    ("User", "object_deletion"): {
        WHOLE: "§2.1, §2.3, §13.1: DELETE deactivates; the user is still returned, "
               "active: false",
    },
    ("User", "check_add_attribute"): {
        "externalId": _NO_EXTERNAL_ID,
        "nickName": _NICKNAME,
        "password": _PASSWORD,
        "photos": _PHOTOS,
        "addresses": _ADDRESSES,
        "phoneNumbers": _PHONES,
        "roles": _ROLES,
        ENTERPRISE_URN: _ENTERPRISE_MANAGER,
        f"{ENTERPRISE_URN}:manager": _MANAGER,
    },
    ("User", "check_remove_attribute"): {
        "externalId": _NO_EXTERNAL_ID,
        "nickName": "§3.2, §16.9: nickName is the username and cannot be empty; it follows "
                    "userName",
        "name": f"{_ALWAYS}: name comes back as {{givenName, familyName, honorificPrefix}} "
                "with nulls",
        "displayName": f"{_ALWAYS}: an unset displayName is \"\"",
        "title": f"{_ALWAYS}: an unset title is \"\"",
        "timezone": "§3.2, §12: an unset timezone is America/Los_Angeles",
        "active": "§12, §16.7: active is always a boolean; only an explicit value changes "
                  "it, so removing it leaves it as it was",
        "photos": "§3.2, §12: without a photo Slack answers the default gravatar URL",
        "addresses": f"{_ALWAYS}: one address with five nulls",
        "phoneNumbers": f"{_ALWAYS}, §6.3: both phones, with null values",
        "roles": f"{_ALWAYS}: [{{value: null, primary: true}}]",
        ENTERPRISE_URN: f"{_ALWAYS}, §3.5: the enterprise object with nulls",
        f"{ENTERPRISE_URN}:manager": f"{_ALWAYS}, §3.5: manager is {{managerId: null}}",
        PROFILE_URN: f"{_ALWAYS}, §3.5: v2 always carries the profile object, "
                     "{startDate: null}",
    },
    ("User", "check_replace_attribute"): {
        "externalId": _NO_EXTERNAL_ID,
        "userName": "§3.2, §12: usernames are stored lower-case",
        "nickName": _NICKNAME,
        "password": _PASSWORD,
        "emails": "§3.2, §16.23: emails are answered as {value, primary} (type is used to "
                  "pick the primary, never returned); a lone email is the primary",
        "photos": _PHOTOS,
        "addresses": _ADDRESSES,
        "phoneNumbers": _PHONES,
        "roles": _ROLES,
        ENTERPRISE_URN: _ENTERPRISE_MANAGER,
        f"{ENTERPRISE_URN}:manager": _MANAGER,
    },
    ("Group", "object_query_with_attributes"): {WHOLE: _NO_MEMBER_REF},
    ("Group", "object_list_with_attributes"): {WHOLE: _NO_MEMBER_REF},
    ("Group", "search_with_attributes"): {WHOLE: _NO_MEMBER_REF},
    ("Group", "object_replacement"): {WHOLE: _NO_MEMBER_REF},
    ("Group", "check_add_attribute"): {
        "externalId": "§4.1: Slack groups have no externalId; it is ignored on write",
        "members": _NO_MEMBER_REF,
    },
    ("Group", "check_remove_attribute"): {
        WHOLE: f"{_NO_MEMBER_REF} (when creating the fully filled group the check removes "
               "attributes from)",
    },
    ("Group", "check_replace_attribute"): {
        "externalId": "§4.1: Slack groups have no externalId; it is ignored on write",
        "members": _NO_MEMBER_REF,
    },
}

#: Failures that depend on scim2-tester's random values: they may or may not occur.
RANDOM_FAILURES: set[tuple[str | None, str, str | None]] = {
    ("User", "check_add_attribute", "roles"),
    ("User", "check_replace_attribute", "roles"),
}


class SlackUserNames(Sequence[str]):
    """Field ``examples`` that give a fresh username Slack accepts each time they are read.

    scim2-tester picks an example with ``random.choice``, which indexes a sequence of
    length 1 at 0: every pick is a new name, so names never collide (a deactivated user
    keeps its name, spec §13.1). At most 21 characters (spec §3.2), and mixed case, so
    Slack's lower-casing stays visible.
    """

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._tag = secrets.token_hex(3)

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index):  # type: ignore[override]
        if index not in (0, -1):
            raise IndexError(index)
        return f"Tester{self._tag}{next(self._numbers)}"


@pytest.fixture(scope="module")
def slack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose default tenant is ``slack`` (Enterprise plan), on a new SQLite file.

    A fresh tenant matters: Slack pages hold 10 users and deleted users stay listed
    (spec §5.2, §13.1), so on a tenant with earlier users the list checks would not
    find the user they created on the first page. Rate limits are off: scim2-tester
    sends some 30 PATCHes to one user in a few seconds, over Slack's burst of 20
    (spec §8). So is scimd's mass-deprovision guard, which is no Slack rule:
    scim2-tester deletes (deactivates) every user it creates.
    """
    url = f"sqlite:///{tmp_path_factory.mktemp('live-slack') / 'scimd.db'}"
    env = {"SCIMD_RATE_LIMITS": "off", "SCIMD_DEPROVISION_GUARD": "off"}
    with LiveServer(url, dialect="slack", env=env) as server:
        yield server


def _published(http: httpx2.Client, path: str) -> dict:
    answer = http.get(path)
    answer.raise_for_status()
    return answer.json()


@pytest.fixture
def slack_client(slack_server: LiveServer) -> Iterator[SyncSCIMClient]:
    """A client that already describes the server, from the documents it publishes."""
    lenient = {"scim_policy": ScimPolicy(unknown=ScimPolicy.Unknown.ignore),
               "scim_ctx": Context.RESOURCE_QUERY_RESPONSE}
    with httpx2.Client(base_url=slack_server.scim_url, headers=slack_server.auth_headers,
                       timeout=30) as http:
        config = ServiceProviderConfig.model_validate(
            _published(http, "/ServiceProviderConfig"), **lenient)
        resource_types = [ResourceType.model_validate(doc, **lenient)
                          for doc in _published(http, "/ResourceTypes")["Resources"]]
        schemas = [Schema.model_validate(doc, **lenient)
                   for doc in _published(http, "/Schemas")["Resources"]]
        provider = ScimProvider.from_discovery(schemas, resource_types, config)
        names = SlackUserNames()
        for key in ("User", USER_URN):
            model = provider.model_for(key)
            assert model is not None, f"the server publishes no {key} model"
            model.model_fields["user_name"].examples = names  # type: ignore[assignment]
        yield SyncSCIMClient(http, provider=provider)


def _failed(result: CheckResult) -> bool:
    return result.status not in PASSING and result.status is not Status.SKIPPED


def _subject(result: CheckResult) -> str | None:
    data = result.data
    return data.get("urn") if isinstance(data, dict) else WHOLE


def _describe(result: CheckResult) -> str:
    where = f"[{result.resource_type}] " if result.resource_type else ""
    subject = _subject(result)
    line = f"- {where}{result.title}{f' ({subject})' if subject else ''}: " \
           f"{result.status.name}: {result.reason}"
    if result.data is not None:
        try:
            data = json.dumps(result.data, default=str)
        except (TypeError, ValueError):
            data = repr(result.data)
        line += f"\n    data: {data[:600]}"
    return line


def _undocumented() -> list[str]:
    """The check titles and attribute paths of SLACK_FAILURES that docs/compatibility.md
    does not name (as ``code``)."""
    doc = COMPATIBILITY_DOC.read_text(encoding="utf-8")
    names = {name for (_, title), subjects in SLACK_FAILURES.items()
             for name in (title, *(s for s in subjects if s is not WHOLE))}
    return sorted(name for name in names if f"`{name}`" not in doc)


@pytest.mark.live
def test_scim2_tester_fails_exactly_the_documented_slack_rules(
        slack_client: SyncSCIMClient) -> None:
    assert not _undocumented(), f"docs/compatibility.md does not name {_undocumented()}"
    results = check_server(slack_client)

    executed = [r for r in results if r.status is not Status.SKIPPED]
    for resource_type in ("User", "Group"):
        assert any(r.resource_type == resource_type and r.title == "object_creation"
                   and r.status in PASSING for r in executed), \
            f"scim2-tester could not create a {resource_type}: its checks were not exercised"

    failures = [r for r in results if _failed(r)]
    failing_checks = {(r.resource_type, r.title) for r in failures}
    unexpected = [r for r in failures if (r.resource_type, r.title) not in SLACK_FAILURES]
    now_passing = sorted(set(SLACK_FAILURES) - failing_checks, key=str)
    assert failing_checks == set(SLACK_FAILURES), (
        "scim2-tester's failures against a slack tenant are no longer the documented ones; "
        "update SLACK_FAILURES and docs/compatibility.md.\n"
        + ("New failures:\n" + "\n".join(_describe(r) for r in unexpected) + "\n"
           if unexpected else "")
        + (f"Checks that now pass: {now_passing}" if now_passing else ""))

    # Within each failing check, the failing subjects (attributes) are the documented ones.
    problems = []
    for check, documented in SLACK_FAILURES.items():
        results_of_check = [r for r in failures if (r.resource_type, r.title) == check]
        failing = {_subject(r) for r in results_of_check}
        for result in results_of_check:
            if _subject(result) not in documented:
                problems.append("not documented: " + _describe(result))
        for subject in documented:
            if subject not in failing and (*check, subject) not in RANDOM_FAILURES:
                problems.append(f"now passes: [{check[0]}] {check[1]} ({subject})")
    assert not problems, ("update SLACK_FAILURES and docs/compatibility.md:\n"
                          + "\n".join(problems))


def test_compatibility_doc_names_every_failing_check() -> None:
    """The same check as above without a server, for runs that skip live tests."""
    assert not _undocumented(), f"docs/compatibility.md does not name {_undocumented()}"
