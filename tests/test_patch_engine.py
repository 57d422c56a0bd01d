"""Unit and property tests of the PATCH engine (``scimd.scim.patch``).

No database and no HTTP: every test builds a PatchOp body, reads it with
:func:`parse_operations` and applies it with :class:`PatchEngine` to the stored
form of a User or a Group, then checks the :class:`PatchResult`.

References: RFC 7644 §3.5.2 (PATCH and its errors), §3.5.2.1 (add), §3.5.2.2
(remove), §3.5.2.3 (replace); RFC 7643 §2.1 (case-insensitive names), §2.4
(multi-valued attributes and ``primary``), §2.5 (unassigned values), §4.3
(the enterprise extension) and §7 (mutability).

Tests marked ``xfail(strict=True, reason="engine bug: ...")`` state what the
RFC requires and fail today because of a defect in the engine.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from scimd.scim.core_schemas import ENTERPRISE_URN, GROUP_TYPE, USER_TYPE, USER_URN
from scimd.scim.errors import ScimError
from scimd.scim.patch import (
    MAX_OPERATIONS,
    PATCH_OP_URN,
    MemberOp,
    PatchEngine,
    PatchResult,
    parse_operations,
)

RID = "U1"

# -- helpers -----------------------------------------------------------------------------------


def body(*ops: dict) -> dict:
    """A PatchOp request body (RFC 7644 §3.5.2)."""
    return {"schemas": [PATCH_OP_URN], "Operations": list(ops)}


def op(name: str, path: str | None = None, value: Any = None, **extra: Any) -> dict:
    """One operation; ``value`` is left out when it is ``None`` unless given in ``extra``."""
    out: dict = {"op": name}
    if path is not None:
        out["path"] = path
    if value is not None:
        out["value"] = value
    out.update(extra)
    return out


def patch_user(attrs: dict, *ops: dict) -> PatchResult:
    return PatchEngine(USER_TYPE, attrs, resource_id=RID).run(parse_operations(body(*ops)))


def patch_group(attrs: dict, *ops: dict) -> PatchResult:
    return PatchEngine(GROUP_TYPE, attrs, resource_id="G1", relation="members").run(
        parse_operations(body(*ops)))


def scim_error(fn, *args: Any) -> ScimError:
    with pytest.raises(ScimError) as info:
        fn(*args)
    return info.value


def primaries(items: list[dict]) -> int:
    return sum(1 for i in items if isinstance(i, dict) and i.get("primary") is True)


def user() -> dict:
    """A User in stored form (canonical names, extension under its URN)."""
    return {
        "userName": "bjensen",
        "displayName": "Babs Jensen",
        "active": True,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
        ],
        "phoneNumbers": [{"value": "555-1234", "type": "work"}],
        ENTERPRISE_URN: {"employeeNumber": "701984", "department": "Tour Operations"},
    }


def group() -> dict:
    return {"displayName": "Tour Guides", "members": [{"value": "u1"}, {"value": "u2"}]}


# -- parse_operations (RFC 7644 §3.5.2) --------------------------------------------------------


class TestParseOperations:
    """RFC 7644 §3.5.2: the body is a PatchOp with a non-empty ``Operations`` array."""

    def test_reads_operations_in_order(self) -> None:
        """Each operation has ``op``, an optional ``path`` and a ``value`` (RFC 7644 §3.5.2)."""
        ops = parse_operations(body(op("add", "nickName", "B"), op("remove", "title"),
                                    op("replace", None, {"title": "T"})))
        assert ops == [("add", "nickName", "B"), ("remove", "title", None),
                       ("replace", None, {"title": "T"})]

    @pytest.mark.parametrize("name", ["Add", "ADD", "Replace", "rEpLaCe", "Remove", "REMOVE"])
    def test_op_names_are_case_insensitive(self, name: str) -> None:
        """Entra sends ``Replace``; op names are accepted in any case (RFC 7644 §3.5.2)."""
        ((got, _, _),) = parse_operations(body({"op": name, "path": "title", "value": "x"}))
        assert got == name.lower()

    def test_member_names_are_case_insensitive(self) -> None:
        """``operations``/``OP``/``PATH``/``VALUE`` are read in any case (RFC 7643 §2.1)."""
        got = parse_operations({"operations": [{"OP": "ADD", "Path": "title", "VALUE": "t"}]})
        assert got == [("add", "title", "t")]

    def test_blank_path_means_no_path(self) -> None:
        """A blank ``path`` targets the resource itself, like an omitted one (§3.5.2)."""
        assert parse_operations(body(op("replace", "  ", {"title": "t"}))) == [
            ("replace", None, {"title": "t"})]

    @pytest.mark.parametrize("bad", [None, [], "Operations", 7, True])
    def test_body_not_an_object(self, bad: Any) -> None:
        """A PatchOp request is a JSON object (RFC 7644 §3.5.2) → invalidSyntax."""
        assert scim_error(parse_operations, bad).scim_type == "invalidSyntax"

    @pytest.mark.parametrize("bad", [
        {"schemas": [PATCH_OP_URN]},
        {"Operations": None},
        {"Operations": []},
        {"Operations": {"op": "add"}},
        {"Operations": "add"},
    ])
    def test_operations_missing_empty_or_not_a_list(self, bad: dict) -> None:
        """``Operations`` is a required, non-empty array (RFC 7644 §3.5.2) → invalidSyntax."""
        assert scim_error(parse_operations, bad).scim_type == "invalidSyntax"

    def test_too_many_operations(self) -> None:
        """More than MAX_OPERATIONS operations are refused (invalidSyntax)."""
        ops = [op("add", "title", "t")] * (MAX_OPERATIONS + 1)
        assert scim_error(parse_operations, body(*ops)).scim_type == "invalidSyntax"
        assert len(parse_operations(body(*ops[:MAX_OPERATIONS]))) == MAX_OPERATIONS

    @pytest.mark.parametrize("raw", [1, "add", None, ["add"]])
    def test_operation_not_an_object(self, raw: Any) -> None:
        """Every element of ``Operations`` is an object (RFC 7644 §3.5.2) → invalidSyntax."""
        assert scim_error(parse_operations, body(raw)).scim_type == "invalidSyntax"

    @pytest.mark.parametrize("raw", [{}, {"op": "move", "path": "title"}, {"op": 1},
                                     {"op": None, "path": "title"}, {"op": "copy", "from": "x"}])
    def test_unknown_op(self, raw: dict) -> None:
        """``op`` is one of "add", "remove" or "replace" (RFC 7644 §3.5.2) → invalidSyntax."""
        assert scim_error(parse_operations, body(raw)).scim_type == "invalidSyntax"

    @pytest.mark.parametrize("path", [1, ["title"], {"a": 1}, True])
    def test_path_not_a_string(self, path: Any) -> None:
        """``path`` is an attribute path string (RFC 7644 §3.5.2) → invalidPath."""
        raw = {"op": "add", "path": path, "value": "x"}
        assert scim_error(parse_operations, body(raw)).scim_type == "invalidPath"

    @pytest.mark.parametrize("name", ["add", "replace", "Add"])
    def test_add_and_replace_need_a_value(self, name: str) -> None:
        """add and replace MUST contain a ``value`` (RFC 7644 §3.5.2.1, §3.5.2.3)."""
        err = scim_error(parse_operations, body({"op": name, "path": "title"}))
        assert err.scim_type == "invalidValue"

    def test_remove_needs_no_value(self) -> None:
        """remove has no ``value`` (RFC 7644 §3.5.2.2)."""
        assert parse_operations(body({"op": "remove", "path": "title"})) == [
            ("remove", "title", None)]

    def test_require_schema(self) -> None:
        """With ``require_schema`` the PatchOp URN must be in ``schemas`` (RFC 7644 §3.5.2)."""
        err = scim_error(lambda: parse_operations({"Operations": [op("add", "title", "t")]},
                                                  require_schema=True))
        assert err.scim_type == "invalidSyntax"
        assert parse_operations(body(op("add", "title", "t")), require_schema=True)


# -- simple and complex single-valued attributes -----------------------------------------------


class TestSimpleAndComplex:
    def test_add_simple_attribute(self) -> None:
        """add on a simple attribute sets its value (RFC 7644 §3.5.2.1)."""
        res = patch_user(user(), op("add", "nickName", "Babs"))
        assert res.attrs["nickName"] == "Babs"
        assert res.member_ops == [] and res.password is None

    def test_add_replaces_existing_single_value(self) -> None:
        """add on an existing single-valued attribute replaces it (RFC 7644 §3.5.2.1)."""
        assert patch_user(user(), op("add", "displayName", "B")).attrs["displayName"] == "B"

    def test_replace_simple_attribute(self) -> None:
        """replace on a simple attribute replaces its value (RFC 7644 §3.5.2.3)."""
        res = patch_user(user(), op("replace", "displayName", "Barbara J."))
        assert res.attrs["displayName"] == "Barbara J."

    def test_replace_missing_attribute_adds_it(self) -> None:
        """replace on an attribute that does not exist is treated as add (RFC 7644 §3.5.2.3)."""
        res = patch_user(user(), op("replace", "title", "Tour Guide"))
        assert res.attrs["title"] == "Tour Guide"

    def test_remove_simple_attribute(self) -> None:
        """remove on a single-valued attribute makes it unassigned (RFC 7644 §3.5.2.2)."""
        res = patch_user(user(), op("remove", "displayName"))
        assert "displayName" not in res.attrs

    def test_remove_absent_attribute_is_a_no_op(self) -> None:
        """Removing an unassigned attribute leaves the resource as it was (RFC 7644 §3.5.2.2)."""
        assert patch_user(user(), op("remove", "title")).attrs == user()

    def test_replace_with_null_removes(self) -> None:
        """A ``null`` value is equivalent to unassigned (RFC 7643 §2.5, RFC 7644 §3.5.2.3)."""
        res = patch_user(user(), {"op": "replace", "path": "displayName", "value": None})
        assert "displayName" not in res.attrs
        res = patch_user(user(), {"op": "replace", "path": "name.givenName", "value": None})
        assert res.attrs["name"] == {"familyName": "Jensen"}
        res = patch_user(user(), {"op": "replace", "path": "emails", "value": None})
        assert "emails" not in res.attrs

    def test_replace_complex_merges_sub_attributes(self) -> None:
        """replace on a complex attribute: sub-attributes not given are left unchanged
        (RFC 7644 §3.5.2.3)."""
        res = patch_user(user(), op("replace", "name", {"givenName": "Babs",
                                                        "middleName": "Jane"}))
        assert res.attrs["name"] == {"givenName": "Babs", "familyName": "Jensen",
                                     "middleName": "Jane"}

    def test_add_complex_merges_sub_attributes(self) -> None:
        """add on a complex attribute sets the given sub-attributes (RFC 7644 §3.5.2.1)."""
        res = patch_user(user(), op("add", "name", {"honorificPrefix": "Ms."}))
        assert res.attrs["name"] == {"givenName": "Barbara", "familyName": "Jensen",
                                     "honorificPrefix": "Ms."}

    def test_complex_value_is_normalised(self) -> None:
        """Sub-attribute names are matched case-insensitively and stored canonically
        (RFC 7643 §2.1); unknown sub-attributes are dropped."""
        res = patch_user(user(), op("replace", "name", {"GIVENNAME": "B", "nope": 1}))
        assert res.attrs["name"] == {"givenName": "B", "familyName": "Jensen"}

    def test_sub_attribute_path(self) -> None:
        """A path may name a sub-attribute, ``name.givenName`` (RFC 7644 §3.5.2, §3.10)."""
        res = patch_user(user(), op("replace", "name.givenName", "Babs"))
        assert res.attrs["name"] == {"givenName": "Babs", "familyName": "Jensen"}
        res = patch_user({"userName": "x"}, op("add", "name.familyName", "J"))
        assert res.attrs["name"] == {"familyName": "J"}

    def test_remove_last_sub_attribute_unassigns_the_complex_attribute(self) -> None:
        """A complex attribute without sub-attributes is unassigned (RFC 7643 §2.5)."""
        res = patch_user(user(), op("remove", "name.givenName"), op("remove", "name.familyName"))
        assert "name" not in res.attrs

    def test_remove_complex_attribute(self) -> None:
        """remove on a complex attribute removes all its sub-attributes (RFC 7644 §3.5.2.2)."""
        assert "name" not in patch_user(user(), op("remove", "name")).attrs

    @pytest.mark.parametrize(("raw", "stored"), [("True", True), ("False", False),
                                                 ("true", True), (" FALSE ", False),
                                                 (False, False)])
    def test_boolean_strings(self, raw: Any, stored: bool) -> None:
        """Entra sends booleans as "True"/"False"; they are stored as booleans
        (RFC 7643 §2.3.2)."""
        assert patch_user(user(), op("replace", "active", raw)).attrs["active"] is stored
        assert patch_user(user(), op("replace", None, {"active": raw})).attrs["active"] is stored

    @pytest.mark.parametrize("raw", ["yes", 1, 0, [True, False], {"v": True}])
    def test_bad_boolean(self, raw: Any) -> None:
        """A value that is not a boolean → invalidValue (RFC 7644 §3.12)."""
        err = scim_error(patch_user, user(), op("replace", "active", raw))
        assert err.scim_type == "invalidValue"

    @pytest.mark.parametrize(("path", "value"), [("displayName", {"a": 1}),
                                                 ("displayName", ["a", "b"]),
                                                 ("userName", True),
                                                 ("name", "text"),
                                                 ("name.givenName", {"x": 1})])
    def test_wrong_type(self, path: str, value: Any) -> None:
        """A value of the wrong type → invalidValue (RFC 7644 §3.12)."""
        assert scim_error(patch_user, user(), op("replace", path, value)).scim_type == \
            "invalidValue"

    @pytest.mark.parametrize("path", ["nope", "name.nope", "emails.nope", "urn:x:y:z:nope",
                                      "emails[", "emails[type eq]", "a b"])
    def test_unknown_or_malformed_path(self, path: str) -> None:
        """A path naming no attribute, or not parsable → invalidPath (RFC 7644 §3.5.2)."""
        assert scim_error(patch_user, user(), op("add", path, "x")).scim_type == "invalidPath"

    def test_case_insensitive_attribute_names(self) -> None:
        """Attribute names are case-insensitive (RFC 7643 §2.1) and stored canonically."""
        res = patch_user(user(), op("Replace", "DISPLAYNAME", "x"),
                         op("ADD", "Name.GIVENNAME", "g"), op("add", "EXTERNALID", "e"),
                         op("REMOVE", "PhoneNumbers"))
        assert res.attrs["displayName"] == "x"
        assert res.attrs["name"]["givenName"] == "g"
        assert res.attrs["externalId"] == "e"
        assert "phoneNumbers" not in res.attrs
        assert set(res.attrs) == {"userName", "displayName", "active", "name", "emails",
                                  "externalId", ENTERPRISE_URN}

    def test_operations_apply_in_order(self) -> None:
        """Operations are applied sequentially in the order given (RFC 7644 §3.5.2)."""
        res = patch_user(user(), op("replace", "title", "a"), op("remove", "title"),
                         op("add", "title", "b"))
        assert res.attrs["title"] == "b"


# -- multi-valued attributes -------------------------------------------------------------------


class TestMultiValued:
    def test_add_appends(self) -> None:
        """add on a multi-valued attribute adds the new values (RFC 7644 §3.5.2.1)."""
        res = patch_user(user(), op("add", "emails", [{"value": "b@x.org", "type": "other"}]))
        assert res.attrs["emails"] == [*user()["emails"], {"value": "b@x.org", "type": "other"}]

    def test_add_existing_value_is_not_duplicated(self) -> None:
        """Adding a value already present does not duplicate it (RFC 7644 §3.5.2.1: "If the
        target location already contains the value specified, no changes SHOULD be made")."""
        res = patch_user(user(), op("add", "emails", [user()["emails"][1]]))
        assert res.attrs["emails"] == user()["emails"]

    def test_add_single_object_is_one_value(self) -> None:
        """A single object for a multi-valued attribute is taken as one value."""
        res = patch_user({"userName": "x"}, op("add", "emails", {"value": "a@b"}))
        assert res.attrs["emails"] == [{"value": "a@b"}]

    def test_replace_replaces_all_values(self) -> None:
        """replace on a multi-valued attribute without filter replaces all values
        (RFC 7644 §3.5.2.3)."""
        res = patch_user(user(), op("replace", "emails", [{"value": "n@x", "type": "work"}]))
        assert res.attrs["emails"] == [{"value": "n@x", "type": "work"}]

    def test_replace_with_empty_list_unassigns(self) -> None:
        """An empty array is unassigned (RFC 7643 §2.5)."""
        assert "emails" not in patch_user(user(), op("replace", "emails", [])).attrs

    def test_remove_all_values(self) -> None:
        """remove on a multi-valued attribute without filter removes all values
        (RFC 7644 §3.5.2.2)."""
        assert "emails" not in patch_user(user(), op("remove", "emails")).attrs

    def test_remove_with_value_list_removes_only_those(self) -> None:
        """remove with a ``value`` list (Entra) removes only the listed entries, matched by
        ``value``, and leaves the others (RFC 7644 §3.5.2.2 removes "the values matched")."""
        attrs = user()
        attrs["emails"].append({"value": "third@x", "type": "other"})
        res = patch_user(attrs, op("remove", "emails", [{"value": "babs@jensen.org"},
                                                        {"value": "not-there"}]))
        assert res.attrs["emails"] == [attrs["emails"][0], attrs["emails"][2]]

    def test_remove_with_value_list_of_everything_unassigns(self) -> None:
        """Removing every value leaves the attribute unassigned (RFC 7644 §3.5.2.2)."""
        res = patch_user(user(), op("remove", "emails", [{"value": "bjensen@example.com"},
                                                         "babs@jensen.org"]))
        assert "emails" not in res.attrs

    def test_new_primary_clears_old_primary(self) -> None:
        """Only one value may be primary; the newly added primary wins (RFC 7643 §2.4)."""
        res = patch_user(user(), op("add", "emails", [{"value": "n@x", "primary": True}]))
        emails = res.attrs["emails"]
        assert emails[-1] == {"value": "n@x", "primary": True}
        assert emails[0]["primary"] is False
        assert primaries(emails) == 1

    def test_new_primary_by_value_path_clears_old_primary(self) -> None:
        """Setting ``primary`` through a value path clears the other primary (RFC 7643 §2.4)."""
        res = patch_user(user(), op("replace", 'emails[type eq "home"].primary', "True"))
        assert [e.get("primary") for e in res.attrs["emails"]] == [False, True]

    def test_two_primaries_in_one_value_rejected(self) -> None:
        """A request with two primary values is invalid (RFC 7643 §2.4) → invalidValue."""
        err = scim_error(patch_user, user(), op("add", "emails", [
            {"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}]))
        assert err.scim_type == "invalidValue"

    def test_sub_attribute_of_multi_valued_without_filter(self) -> None:
        """``emails.type`` without filter designates the sub-attribute of every value, as the
        same attribute path does in a filter (RFC 7644 §3.4.2.2, §3.5.2.2, §3.5.2.3)."""
        res = patch_user(user(), op("remove", "emails.type"))
        assert all("type" not in e for e in res.attrs["emails"])
        res = patch_user(user(), op("replace", "emails.display", "E"))
        assert all(e["display"] == "E" for e in res.attrs["emails"])

    def test_primary_through_sub_attribute_path_stays_unique(self) -> None:
        """RFC 7643 §2.4: "primary" true MUST appear no more than once. Setting
        ``emails.primary`` on two values must fail or leave a single primary."""
        try:
            res = patch_user(user(), op("replace", "emails.primary", True))
        except ScimError as exc:
            assert exc.scim_type == "invalidValue"
        else:
            assert primaries(res.attrs["emails"]) <= 1


# -- value paths (filters) ---------------------------------------------------------------------


class TestValuePath:
    def test_replace_sub_attribute_of_matching_values(self) -> None:
        """``emails[type eq "work"].value`` replaces the sub-attribute of the matching
        values only (RFC 7644 §3.5.2.3)."""
        res = patch_user(user(), op("replace", 'emails[type eq "work"].value', "new@x"))
        assert res.attrs["emails"] == [
            {"value": "new@x", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
        ]

    def test_replace_matching_value_without_sub_attribute(self) -> None:
        """``emails[type eq "home"]`` with an object updates the matching value
        (RFC 7644 §3.5.2.3)."""
        res = patch_user(user(), op("replace", 'emails[type eq "home"]',
                                    {"value": "h@x", "type": "home", "display": "Home"}))
        assert res.attrs["emails"][1] == {"value": "h@x", "type": "home", "display": "Home"}
        assert res.attrs["emails"][0] == user()["emails"][0]

    def test_replace_matching_value_replaces_the_whole_record(self) -> None:
        """RFC 7644 §3.5.2.3: with a valuePath filter "all matching record values SHALL be
        replaced" (the RFC's own example replaces a whole work address)."""
        attrs = {"userName": "x", "addresses": [
            {"type": "work", "streetAddress": "old", "locality": "Hollywood"}]}
        res = patch_user(attrs, op("replace", 'addresses[type eq "work"]',
                                   {"type": "work", "streetAddress": "911 Universal City"}))
        assert res.attrs["addresses"] == [{"type": "work", "streetAddress": "911 Universal City"}]

    def test_filter_with_and_and_case_insensitive_names(self) -> None:
        """Filters use RFC 7644 §3.4.2.2 syntax; names and operators are case-insensitive."""
        res = patch_user(user(), op("replace",
                                    'EMAILS[TYPE EQ "WORK" and Value sw "bjensen"].DISPLAY',
                                    "Work"))
        assert res.attrs["emails"][0]["display"] == "Work"
        assert "display" not in res.attrs["emails"][1]

    def test_replace_unmatched_value_path_is_no_target(self) -> None:
        """replace with a filter that matches nothing → noTarget (RFC 7644 §3.5.2.3)."""
        for path in ('emails[type eq "other"]', 'emails[type eq "other"].value',
                     'addresses[type eq "work"].locality'):
            err = scim_error(patch_user, user(), op("replace", path, {"value": "x"}
                                                    if "." not in path else "x"))
            assert err.scim_type == "noTarget", path

    def test_add_unmatched_value_path_creates_entry_from_filter(self) -> None:
        """add on an unmatched value selection creates the entry from the filter's ``eq``
        terms, normalised to canonical sub-attribute names (RFC 7643 §2.1)."""
        res = patch_user(user(), op("add", 'emails[TYPE eq "other"].VALUE', "o@x"))
        assert res.attrs["emails"][-1] == {"type": "other", "value": "o@x"}
        assert res.attrs["emails"][:2] == user()["emails"]

    def test_add_unmatched_value_path_without_sub_attribute(self) -> None:
        """add on ``addresses[type eq "work" and Primary eq "True"]`` creates a work address
        with the value's sub-attributes; booleans in the filter are typed (RFC 7643 §2.3.2)."""
        res = patch_user(user(), op("add", 'addresses[type eq "work" and Primary eq "True"]',
                                    {"locality": "Hollywood"}))
        assert res.attrs["addresses"] == [{"type": "work", "primary": True,
                                           "locality": "Hollywood"}]

    def test_add_unmatched_value_path_with_primary_clears_old_primary(self) -> None:
        """A created primary entry clears the old primary (RFC 7643 §2.4)."""
        res = patch_user(user(), op("add", 'emails[value eq "n@x"]', {"primary": True}))
        assert res.attrs["emails"][-1] == {"value": "n@x", "primary": True}
        assert primaries(res.attrs["emails"]) == 1

    def test_add_unmatched_value_path_not_only_eq_is_no_target(self) -> None:
        """An entry cannot be built from a filter that is not ``eq`` terms joined by ``and``
        → noTarget (RFC 7644 §3.5.2)."""
        for path in ('emails[type ne "work"]', 'emails[type eq "x" or type eq "y"]',
                     'emails[value pr]'):
            err = scim_error(patch_user, {"userName": "x"}, op("add", path, {"display": "d"}))
            assert err.scim_type == "noTarget", path

    def test_add_matched_value_path_updates(self) -> None:
        """add on a matched value selection sets the sub-attribute (RFC 7644 §3.5.2.1)."""
        res = patch_user(user(), op("add", 'emails[value eq "babs@jensen.org"].display', "B"))
        assert res.attrs["emails"][1] == {"value": "babs@jensen.org", "type": "home",
                                          "display": "B"}

    def test_remove_matching_values(self) -> None:
        """remove with a filter removes the matching values (RFC 7644 §3.5.2.2)."""
        res = patch_user(user(), op("remove", 'emails[type eq "work"]'))
        assert res.attrs["emails"] == [{"value": "babs@jensen.org", "type": "home"}]

    def test_remove_all_matching_values_unassigns(self) -> None:
        """If no values remain the attribute is unassigned (RFC 7644 §3.5.2.2)."""
        res = patch_user(user(), op("remove", 'emails[value pr]'))
        assert "emails" not in res.attrs

    def test_remove_sub_attribute_of_matching_values(self) -> None:
        """``emails[type eq "work"].primary`` removes only that sub-attribute
        (RFC 7644 §3.5.2.2)."""
        res = patch_user(user(), op("remove", 'emails[type eq "work"].primary'))
        assert res.attrs["emails"][0] == {"value": "bjensen@example.com", "type": "work"}

    def test_remove_unmatched_filter_leaves_resource(self) -> None:
        """A remove filter matching nothing changes nothing."""
        assert patch_user(user(), op("remove", 'emails[type eq "other"]')).attrs == user()

    def test_filter_on_simple_attribute_is_invalid_path(self) -> None:
        """Only complex attributes have sub-attributes to filter on → invalidPath."""
        err = scim_error(patch_user, user(), op("add", 'userName[value eq "x"]', "y"))
        assert err.scim_type == "invalidPath"

    def test_unknown_trailing_sub_attribute_is_invalid_path(self) -> None:
        err = scim_error(patch_user, user(), op("add", 'emails[type eq "work"].nope', "y"))
        assert err.scim_type == "invalidPath"

    def test_primary_stays_unique_when_matches_become_identical(self) -> None:
        """RFC 7643 §2.4: "primary" true appears at most once, even when the values a filter
        selects become identical records."""
        attrs = {"userName": "x", "emails": [{"value": "a@x", "type": "work"},
                                             {"value": "a@x", "type": "home"}]}
        try:
            res = patch_user(attrs, op("replace", 'emails[value eq "a@x"]',
                                       {"value": "a@x", "type": "work", "primary": True}))
        except ScimError as exc:  # refusing is as good as keeping one primary
            assert exc.scim_type == "invalidValue"
            return
        assert primaries(res.attrs["emails"]) <= 1


# -- enterprise extension, path-less values ----------------------------------------------------


class TestExtensionAndPathless:
    def test_urn_qualified_path(self) -> None:
        """A path may be qualified with its schema URN (RFC 7644 §3.5.2, §3.10)."""
        res = patch_user(user(), op("replace", f"{ENTERPRISE_URN}:department", "Sales"),
                         op("add", f"{ENTERPRISE_URN}:manager.value", "M1"))
        assert res.attrs[ENTERPRISE_URN] == {"employeeNumber": "701984", "department": "Sales",
                                             "manager": {"value": "M1"}}

    def test_unqualified_extension_attribute(self) -> None:
        """An unqualified name finds the extension attribute (Entra's ``manager``)."""
        res = patch_user({"userName": "x"}, op("add", "manager", {"value": "M"}))
        assert res.attrs[ENTERPRISE_URN] == {"manager": {"value": "M"}}

    def test_manager_one_element_list(self) -> None:
        """Entra sends single-valued manager as a one-element list (RFC 7643 §4.3)."""
        res = patch_user(user(), op("replace", "manager", [{"value": "M2"}]))
        assert res.attrs[ENTERPRISE_URN]["manager"] == {"value": "M2"}
        res = patch_user(user(), op("replace", f"{ENTERPRISE_URN}:manager", ["M3"]))
        assert res.attrs[ENTERPRISE_URN]["manager"] == {"value": "M3"}

    def test_manager_list_of_two_is_invalid(self) -> None:
        """A single-valued attribute takes one value → invalidValue (RFC 7644 §3.12)."""
        err = scim_error(patch_user, user(), op("replace", "manager", ["a", "b"]))
        assert err.scim_type == "invalidValue"

    def test_manager_bare_string(self) -> None:
        """A bare id for manager is its ``value`` (RFC 7643 §4.3)."""
        res = patch_user(user(), op("add", "manager", "M4"))
        assert res.attrs[ENTERPRISE_URN]["manager"] == {"value": "M4"}

    def test_whole_extension_path(self) -> None:
        """A path that is the extension URN targets the extension object (RFC 7644 §3.5.2)."""
        res = patch_user(user(), op("add", ENTERPRISE_URN, {"costCenter": "C", "nope": 1}))
        assert res.attrs[ENTERPRISE_URN] == {"employeeNumber": "701984",
                                             "department": "Tour Operations", "costCenter": "C"}
        assert ENTERPRISE_URN not in patch_user(user(), op("remove", ENTERPRISE_URN)).attrs

    def test_whole_extension_must_be_object(self) -> None:
        err = scim_error(patch_user, user(), op("add", ENTERPRISE_URN, "text"))
        assert err.scim_type == "invalidValue"

    def test_core_urn_alone_is_invalid_path(self) -> None:
        err = scim_error(patch_user, user(), op("add", USER_URN, {"title": "t"}))
        assert err.scim_type == "invalidPath"

    def test_pathless_add_and_replace(self) -> None:
        """Without path the value holds the attributes to change (RFC 7644 §3.5.2.1,
        §3.5.2.3)."""
        res = patch_user(user(), op("add", None, {"nickName": "B", "emails": [{"value": "n@x"}]}))
        assert res.attrs["nickName"] == "B"
        assert res.attrs["emails"][-1] == {"value": "n@x"}
        res = patch_user(user(), op("replace", None, {"displayName": "D",
                                                      "emails": [{"value": "n@x"}]}))
        assert res.attrs["displayName"] == "D"
        assert res.attrs["emails"] == [{"value": "n@x"}]

    def test_pathless_dotted_and_urn_keys(self) -> None:
        """Path-less keys may be attribute paths: dotted and URN-qualified (Entra)."""
        res = patch_user(user(), op("replace", None, {
            "name.givenName": "Babs",
            f"{ENTERPRISE_URN}:department": "Sales",
            f"{ENTERPRISE_URN}:manager": {"value": "M"},
            f"{USER_URN}:title": "Guide",
        }))
        assert res.attrs["name"] == {"givenName": "Babs", "familyName": "Jensen"}
        assert res.attrs[ENTERPRISE_URN]["department"] == "Sales"
        assert res.attrs[ENTERPRISE_URN]["manager"] == {"value": "M"}
        assert res.attrs["title"] == "Guide"

    @pytest.mark.parametrize("name", ["add", "replace"])
    def test_pathless_whole_extension_object(self, name: str) -> None:
        """A path-less value may hold the extension object under its URN
        (RFC 7644 §3.5.2.1, §3.5.2.3); attributes not given are left unchanged."""
        res = patch_user(user(), op(name, None, {ENTERPRISE_URN.upper(): {
            "Department": "Sales", "manager": {"value": "M"}}}))
        assert res.attrs[ENTERPRISE_URN] == {"employeeNumber": "701984", "department": "Sales",
                                             "manager": {"value": "M"}}

    def test_pathless_unknown_keys_ignored(self) -> None:
        """Unknown keys in a path-less value are ignored, as in POST; so are ``schemas``,
        read-only attributes and unknown URNs."""
        res = patch_user(user(), op("replace", None, {
            "schemas": [USER_URN], "nope": 1, "urn:example:x:y": {"a": 1}, "emails[": 1,
            "id": "other", "meta": {"version": "W/1"}, "groups": [{"value": "g"}],
            "title": "T",
        }))
        assert res.attrs == {**user(), "title": "T"}

    def test_pathless_unknown_keys_ignored_in_add_of_extension(self) -> None:
        """Unknown keys inside the extension object are ignored (add)."""
        res = patch_user(user(), op("add", None, {ENTERPRISE_URN: {"nope": 1, "costCenter": "C"}}))
        assert res.attrs[ENTERPRISE_URN]["costCenter"] == "C"

    def test_pathless_unknown_keys_ignored_in_replace_of_extension(self) -> None:
        """Unknown keys inside the extension object are ignored for replace as for add."""
        res = patch_user(user(), op("replace", None, {ENTERPRISE_URN: {"nope": 1,
                                                                       "costCenter": "C"}}))
        assert res.attrs[ENTERPRISE_URN]["costCenter"] == "C"

    @pytest.mark.parametrize("value", ["text", ["a"], 3, None])
    def test_pathless_value_must_be_object(self, value: Any) -> None:
        """Without path, ``value`` is an object of attributes (RFC 7644 §3.5.2) →
        invalidValue."""
        err = scim_error(patch_user, user(), {"op": "add", "value": value})
        assert err.scim_type == "invalidValue"

    def test_pathless_bad_value_is_not_ignored(self) -> None:
        """A known attribute with a bad value is an error even without path."""
        err = scim_error(patch_user, user(), op("replace", None, {"active": "maybe"}))
        assert err.scim_type == "invalidValue"

    @pytest.mark.parametrize("value", [None, {"title": "x"}])
    def test_remove_without_path_is_no_target(self, value: Any) -> None:
        """remove without path fails with noTarget (RFC 7644 §3.5.2.2)."""
        raw = {"op": "remove"} if value is None else {"op": "remove", "value": value}
        assert scim_error(patch_user, user(), raw).scim_type == "noTarget"


# -- mutability and password -------------------------------------------------------------------


class TestMutability:
    @pytest.mark.parametrize(("name", "path", "value"), [
        ("replace", "id", "U2"),
        ("add", "id", "U2"),
        ("remove", "id", None),
        ("replace", "meta.lastModified", "2020-01-01T00:00:00Z"),
        ("replace", "meta", {"version": "W/x"}),
        ("add", "groups", [{"value": "g1"}]),
        ("remove", "groups", None),
        ("replace", 'groups[value eq "g1"].display', "G"),
        ("replace", "manager.displayName", "Boss"),
    ])
    def test_read_only_target_is_mutability_error(self, name: str, path: str,
                                                  value: Any) -> None:
        """Changing a readOnly attribute → mutability (RFC 7644 §3.5.2, RFC 7643 §7)."""
        err = scim_error(patch_user, user(), op(name, path, value))
        assert err.scim_type == "mutability"
        assert err.status == 400

    def test_id_equal_to_resource_id_is_accepted(self) -> None:
        """Sending back the resource's own ``id`` changes nothing and is accepted."""
        res = patch_user(user(), op("replace", "id", RID), op("add", "ID", RID))
        assert res.attrs == user()
        assert "id" not in res.attrs

    def test_read_only_sub_attribute_inside_complex_value(self) -> None:
        """manager.displayName is readOnly (RFC 7643 §4.3): a client value for it must be
        refused (mutability) or ignored, never stored (RFC 7643 §7)."""
        try:
            res = patch_user(user(), op("replace", "manager", {"value": "M",
                                                               "displayName": "Boss"}))
        except ScimError as exc:
            assert exc.scim_type == "mutability"
        else:
            assert "displayName" not in res.attrs[ENTERPRISE_URN]["manager"]

    @pytest.mark.parametrize("raw", [op("replace", "password", "s3cret!"),
                                     op("add", "PASSWORD", "s3cret!"),
                                     op("replace", None, {"password": "s3cret!", "title": "T"})])
    def test_password_goes_to_result_not_attrs(self, raw: dict) -> None:
        """password is writeOnly (RFC 7643 §4.1.1): it is handed to the store for hashing
        and never kept in the attributes."""
        res = patch_user(user(), raw)
        assert res.password == "s3cret!"
        assert "password" not in res.attrs
        assert "PASSWORD" not in res.attrs

    def test_password_cannot_be_removed(self) -> None:
        assert scim_error(patch_user, user(), op("remove", "password")).scim_type == "mutability"

    @pytest.mark.parametrize("value", ["", 5, ["x"], {"value": "x"}])
    def test_password_must_be_a_string(self, value: Any) -> None:
        err = scim_error(patch_user, user(), {"op": "replace", "path": "password", "value": value})
        assert err.scim_type == "invalidValue"


# -- group members -----------------------------------------------------------------------------


class TestGroupMembers:
    def test_member_ops_in_request_order(self) -> None:
        """Member changes come back as deltas in order (RFC 7644 §3.5.2: operations apply
        sequentially) and never touch ``attrs["members"]``."""
        res = patch_group(group(),
                          op("add", "members", [{"value": "u3", "type": "user"}]),
                          op("replace", "members", [{"value": "u4"}]),
                          op("remove", "members", [{"value": "u4"}]),
                          op("remove", "members"),
                          op("remove", 'members[value eq "u1"]'))
        kinds = [m.kind for m in res.member_ops]
        assert kinds == ["add", "replace", "remove", "remove_all", "remove_where"]
        assert res.member_ops[0].values == [{"value": "u3", "type": "User"}]
        assert res.member_ops[1].values == [{"value": "u4"}]
        assert res.member_ops[2].values == [{"value": "u4"}]
        assert res.member_ops[3] == MemberOp("remove_all")
        where = res.member_ops[4].filter
        assert where is not None and str(where) == 'value eq "u1"'
        assert res.attrs == group()

    def test_pathless_members(self) -> None:
        """Path-less add/replace with ``members`` produce deltas; other attributes apply."""
        res = patch_group(group(), op("Replace", None, {"displayName": "New",
                                                        "members": [{"value": "u9"}]}))
        assert res.attrs == {**group(), "displayName": "New"}
        assert res.member_ops == [MemberOp("replace", [{"value": "u9"}])]
        res = patch_group(group(), op("add", None, {"members": ["u7"]}))
        assert res.member_ops == [MemberOp("add", [{"value": "u7"}])]

    def test_urn_qualified_members(self) -> None:
        res = patch_group(group(), op("add", "urn:ietf:params:scim:schemas:core:2.0:Group:"
                                      "members", [{"value": "u5"}]))
        assert res.member_ops == [MemberOp("add", [{"value": "u5"}])]

    def test_replace_members_with_null_is_empty_replace(self) -> None:
        res = patch_group(group(), {"op": "replace", "path": "members", "value": None})
        assert res.member_ops == [MemberOp("replace", [])]

    def test_members_on_a_group_without_members(self) -> None:
        res = patch_group({"displayName": "G"}, op("add", "members", [{"value": "u1"}]))
        assert res.attrs == {"displayName": "G"}
        assert res.member_ops == [MemberOp("add", [{"value": "u1"}])]

    @pytest.mark.parametrize(("name", "path", "value"), [
        ("remove", 'members[value eq "x"].display', None),
        ("replace", 'members[value eq "x"].display', "X"),
        ("add", 'members[value eq "x"]', {"value": "x"}),
        ("replace", 'members[value eq "x"]', {"value": "y"}),
    ])
    def test_filtered_member_changes_are_invalid_path(self, name: str, path: str,
                                                      value: Any) -> None:
        """Only whole members are added or removed; a filter only selects members to remove
        → invalidPath (RFC 7644 §3.5.2)."""
        err = scim_error(patch_group, group(), op(name, path, value))
        assert err.scim_type == "invalidPath"

    def test_member_value_is_immutable(self) -> None:
        """members.value is immutable (RFC 7643 §4.2, §8.7.1): changing it is ``mutability``."""
        err = scim_error(patch_group, group(), op("replace", "members.value", "x"))
        assert err.scim_type == "mutability"

    def test_bad_member_type_is_invalid_value(self) -> None:
        err = scim_error(patch_group, group(), op("add", "members", [{"value": "u", "type": "x"}]))
        assert err.scim_type == "invalidValue"


# -- the input is never mutated ----------------------------------------------------------------


def test_input_attrs_are_not_mutated() -> None:
    """The engine works on a deep copy: the stored body given to it is never changed."""
    attrs = user()
    before = copy.deepcopy(attrs)
    res = patch_user(attrs,
                     op("add", "emails", [{"value": "n@x", "primary": True}]),
                     op("replace", 'emails[type eq "home"].display', "H"),
                     op("remove", 'phoneNumbers[type eq "work"]'),
                     op("replace", "name", {"givenName": "B"}),
                     op("remove", f"{ENTERPRISE_URN}:department"),
                     op("replace", "emails.display", "D"))
    assert attrs == before
    assert res.attrs != before
    assert res.attrs["emails"] is not attrs["emails"]


def test_input_attrs_are_not_mutated_on_error() -> None:
    """An operation failing half-way leaves the caller's attributes untouched."""
    attrs = user()
    before = copy.deepcopy(attrs)
    with pytest.raises(ScimError):
        patch_user(attrs, op("replace", "emails.display", "D"), op("replace", "id", "other"))
    assert attrs == before


# -- property tests ----------------------------------------------------------------------------

SAFE = "abAB0@.-_é鞆"
"""Characters of generated values; ``"`` and ``\\`` test filter literal escaping."""
RARE = '"\\'


def text(min_size: int = 1, max_size: int = 6) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(SAFE) | st.sampled_from(RARE), min_size=min_size,
                   max_size=max_size)


def lit(value: str) -> str:
    """A filter literal (RFC 7644 §3.4.2.2: JSON string syntax)."""
    return json.dumps(value, ensure_ascii=False)


TYPES = ("work", "home", "other")
MULTI = ("emails", "phoneNumbers", "ims", "roles", "entitlements")


@st.composite
def multi_values(draw: st.DrawFn, max_size: int = 3) -> list[dict]:
    """Stored values of a ``value/display/type/primary`` attribute: unique values
    (case-insensitively), at most one primary (RFC 7643 §2.4)."""
    values = draw(st.lists(text(), max_size=max_size, unique_by=str.lower))
    out = []
    for value in values:
        item: dict = {"value": value}
        if draw(st.booleans()):
            item["type"] = draw(st.sampled_from(TYPES))
        if draw(st.booleans()):
            item["display"] = draw(text())
        if draw(st.booleans()):
            item["primary"] = draw(st.booleans())
        out.append(item)
    seen = False
    for item in out:
        if item.get("primary") is True:
            if seen:
                item["primary"] = False
            seen = True
    return out


@st.composite
def stored_users(draw: st.DrawFn) -> dict:
    """A User in stored form: canonical names, no empty values (RFC 7643 §2.5)."""
    attrs: dict = {"userName": draw(text())}
    for name in ("displayName", "nickName", "title", "externalId"):
        if draw(st.booleans()):
            attrs[name] = draw(text())
    if draw(st.booleans()):
        attrs["active"] = draw(st.booleans())
    name = {k: draw(text()) for k in ("givenName", "familyName") if draw(st.booleans())}
    if name:
        attrs["name"] = name
    for multi in MULTI[:3]:
        values = draw(multi_values())
        if values:
            attrs[multi] = values
    if draw(st.booleans()):
        addresses = [{"type": t, "locality": draw(text())}
                     for t in draw(st.lists(st.sampled_from(TYPES), max_size=2, unique=True))]
        if addresses:
            attrs["addresses"] = addresses
    ext: dict = {k: draw(text()) for k in ("department", "employeeNumber") if draw(st.booleans())}
    if draw(st.booleans()):
        ext["manager"] = {"value": draw(text())}
    if ext:
        attrs[ENTERPRISE_URN] = ext
    return attrs


def random_case(draw: st.DrawFn, word: str) -> str:
    if not draw(st.booleans()):
        return word
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in word)


SIMPLE = ("displayName", "nickName", "title", "userName", "externalId")


@st.composite
def operations(draw: st.DrawFn, *, junk: bool = True) -> dict:
    """One operation from a small grammar of paths and values (RFC 7644 §3.5.2)."""
    name = draw(st.sampled_from(("add", "replace", "remove")))
    multi = draw(st.sampled_from(MULTI))
    element = st.fixed_dictionaries({"value": text()}, optional={
        "type": st.sampled_from(TYPES), "display": text(), "primary": st.booleans()})
    kind = draw(st.sampled_from([
        "simple", "active", "name", "name.sub", "multi", "multi.display", "vp", "vp.sub",
        "vp.primary", "address.vp", "ext", "manager", "manager.value", "whole-ext",
        "pathless",
    ]))
    path: str | None
    value: Any
    if kind == "simple":
        path, value = draw(st.sampled_from(SIMPLE)), draw(text() | st.none())
    elif kind == "active":
        path, value = "active", draw(st.booleans() | st.sampled_from(["True", "False"]))
    elif kind == "name":
        path = "name"
        value = draw(st.fixed_dictionaries({}, optional={"givenName": text(),
                                                         "familyName": text()}) | st.none())
    elif kind == "name.sub":
        path, value = draw(st.sampled_from(["name.givenName", "name.familyName"])), draw(text())
    elif kind == "multi":
        path = multi
        value = draw(st.lists(element, max_size=2) | st.none())
    elif kind == "multi.display":
        path, value = f"{multi}.display", draw(text())
    elif kind in ("vp", "vp.sub", "vp.primary"):
        attr, literal = draw(st.sampled_from([("type", st.sampled_from(TYPES)),
                                              ("value", text())]))
        path = f"{multi}[{attr} eq {lit(draw(literal))}]"
        if kind == "vp":
            value = draw(st.fixed_dictionaries({}, optional={
                "display": text(), "type": st.sampled_from(TYPES), "primary": st.booleans()}))
        elif kind == "vp.sub":
            sub = draw(st.sampled_from(["display", "type", "value"]))
            path, value = f"{path}.{sub}", draw(text())
        else:
            path, value = f"{path}.primary", draw(st.booleans())
    elif kind == "address.vp":
        path = f'addresses[type eq {lit(draw(st.sampled_from(TYPES)))}].locality'
        value = draw(text())
    elif kind == "ext":
        path = f"{ENTERPRISE_URN}:{draw(st.sampled_from(['department', 'employeeNumber']))}"
        value = draw(text() | st.none())
    elif kind == "manager":
        path, value = "manager", draw(text() | st.just([{"value": "m"}]) | st.none())
    elif kind == "manager.value":
        path, value = f"{ENTERPRISE_URN}:manager.value", draw(text())
    elif kind == "whole-ext":
        path = ENTERPRISE_URN
        value = draw(st.fixed_dictionaries({}, optional={"department": text(),
                                                         "manager": st.just({"value": "m"})}))
    else:
        path = None
        value = draw(st.fixed_dictionaries({}, optional={
            "title": text(), "name.givenName": text(), multi: st.lists(element, max_size=2),
            f"{ENTERPRISE_URN}:department": text(), "unknownKey": text()}))
    if junk and draw(st.integers(0, 9)) == 0:
        value = draw(JSON)  # wrong types must give ScimError, never a crash
    if name == "remove":
        if path is None:
            name = "replace"
        elif not (kind == "multi" and draw(st.booleans())):
            value = None
    out: dict = {"op": random_case(draw, name)}
    if path is not None:
        out["path"] = random_case(draw, path) if kind in ("simple", "multi") else path
    if name != "remove" or value is not None:
        out["value"] = value
    return out


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
"""Any JSON document (what a client can send)."""

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


def multi_valued_lists(attrs: dict) -> list[list]:
    out = [v for v in attrs.values() if isinstance(v, list)]
    for v in attrs.values():
        if isinstance(v, dict):
            out.extend(x for x in v.values() if isinstance(x, list))
    return out


def has_identical_records(attrs: dict) -> bool:
    """Two equal records in one multi-valued attribute (the precondition of the engine bug
    of ``test_primary_stays_unique_when_matches_become_identical``)."""
    for items in multi_valued_lists(attrs):
        for i, a in enumerate(items):
            if any(a == b for b in items[i + 1:]):
                return True
    return False


@PROPERTY_SETTINGS
@given(attrs=stored_users(), ops=st.lists(operations(), min_size=1, max_size=6))
def test_property_only_scim_errors_and_input_untouched(attrs: dict, ops: list[dict]) -> None:
    """(1) Any sequence of operations gives a result or a ScimError (RFC 7644 §3.12), and
    (2) the caller's stored attributes are never mutated."""
    before = copy.deepcopy(attrs)
    note(json.dumps(ops, ensure_ascii=False))
    try:
        res = patch_user(attrs, *ops)
    except ScimError as exc:
        assert exc.status == 400
        assert exc.scim_type in {"invalidSyntax", "invalidValue", "invalidPath", "noTarget",
                                 "mutability", "invalidFilter"}
    else:
        assert isinstance(res.attrs, dict)
        assert res.member_ops == []
    assert attrs == before


@PROPERTY_SETTINGS
@given(attrs=stored_users(), ops=st.lists(operations(junk=False), min_size=1, max_size=6))
def test_property_at_most_one_primary(attrs: dict, ops: list[dict]) -> None:
    """(5) After any run, each multi-valued attribute has at most one ``primary: true``
    (RFC 7643 §2.4)."""
    note(json.dumps(ops, ensure_ascii=False))
    try:
        res = patch_user(attrs, *ops)
    except ScimError:
        return
    for items in multi_valued_lists(res.attrs):
        assert primaries(items) <= 1, items


@PROPERTY_SETTINGS
@given(attrs=stored_users(), data=st.data())
def test_property_replace_with_present_value_is_idempotent(attrs: dict, data: st.DataObject
                                                           ) -> None:
    """(3) replace with the value already present changes nothing (RFC 7644 §3.5.2.3),
    whether addressed by path, by URN-qualified path, by value filter or without path."""
    ops = []
    for key, value in attrs.items():
        if key == ENTERPRISE_URN:
            ops.extend(op("replace", f"{ENTERPRISE_URN}:{k}", v) for k, v in value.items())
            ops.append(op("replace", ENTERPRISE_URN, value))
        else:
            ops.append(op("replace", random_case(data.draw, key), value))
    for item in attrs.get("emails", []):
        ops.append(op("replace", f"emails[value eq {lit(item['value'])}]", item))
        for sub, sub_value in item.items():
            ops.append(op("replace", f"emails[value eq {lit(item['value'])}].{sub}", sub_value))
    ops.append(op("replace", None, copy.deepcopy(attrs)))
    ops = data.draw(st.permutations(ops))
    note(json.dumps(ops, ensure_ascii=False))
    res = patch_user(attrs, *ops)
    assert res.attrs == attrs


@PROPERTY_SETTINGS
@given(attrs=stored_users(), data=st.data())
def test_property_add_then_remove_by_filter_restores(attrs: dict, data: st.DataObject) -> None:
    """(4) add of a new value, then remove by a value filter on it, leaves the attribute as
    before (RFC 7644 §3.5.2.1, §3.5.2.2)."""
    attr = data.draw(st.sampled_from(MULTI))
    taken = {e["value"].lower() for e in attrs.get(attr, [])}
    value = data.draw(text().filter(lambda v: v.lower() not in taken))
    extra = data.draw(st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(TYPES), "display": text(), "primary": st.just(False)}))
    selector = f"{attr}[value eq {lit(value)}]"
    add = data.draw(st.sampled_from([
        op("add", attr, [{"value": value, **extra}]),
        op("add", selector, extra or {"display": "d"}),
        op("add", f"{selector}.display", "d"),
        op("add", None, {attr: [{"value": value, **extra}]}),
    ]))
    remove = op("remove", selector)
    note(json.dumps([add, remove], ensure_ascii=False))
    once = patch_user(attrs, add, remove)
    assert once.attrs == attrs
    middle = patch_user(attrs, add)
    assert sum(1 for e in middle.attrs[attr] if e["value"] == value) == 1
    assert patch_user(middle.attrs, remove).attrs == attrs


# -- fuzzing -----------------------------------------------------------------------------------


def _run_any(rtype_name: str, attrs: dict, raw: Any) -> None:
    before = copy.deepcopy(attrs)
    try:
        ops = parse_operations(raw)
        if rtype_name == "User":
            PatchEngine(USER_TYPE, attrs, resource_id=RID).run(ops)
        else:
            PatchEngine(GROUP_TYPE, attrs, resource_id="G1", relation="members").run(ops)
    except ScimError:
        pass
    assert attrs == before


@settings(max_examples=500, deadline=None)
@given(raw=JSON)
def test_fuzz_arbitrary_json_body(raw: Any) -> None:
    """Any JSON as the PATCH body gives a result or a ScimError, never another exception."""
    _run_any("User", user(), raw)
    _run_any("Group", group(), raw)


PATHS = st.sampled_from([
    "userName", "name", "name.givenName", "emails", "emails.value", 'emails[type eq "work"]',
    'emails[type eq "work"].value', 'emails[value pr]', "manager", "manager.value", "id",
    "meta", "groups", "password", "members", 'members[value eq "u1"]', "members.value",
    "active", ENTERPRISE_URN, f"{ENTERPRISE_URN}:department", f"{ENTERPRISE_URN}.manager",
    USER_URN, f"{USER_URN}:emails", "addresses[type eq 1]", 'emails[primary eq "x"]',
    'emails[value gt 3]', "emails[not (type eq \"x\")]", "x509Certificates",
]) | st.text(max_size=30)


@settings(max_examples=500, deadline=None)
@given(ops=st.lists(st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "replace", "remove", "Add", "REPLACE", "move"])},
    optional={"path": PATHS, "value": JSON}), min_size=1, max_size=4))
def test_fuzz_structured_operations(ops: list[dict]) -> None:
    """Well-formed operations with arbitrary paths and JSON values: only ScimError."""
    _run_any("User", user(), body(*ops))
    _run_any("Group", group(), body(*ops))
