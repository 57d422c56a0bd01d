"""The schemas of the ``slack`` dialect: exactly the attributes Slack keeps (spec §3.2, §4.1).

Slack stores fewer attributes than RFC 7643's User: two emails, two phones, one
address, one photo, one role, three name parts; ``manager`` is
``{managerId}``; two Slack extensions (profile, guest). These definitions drive
validation, filters, PATCH and the ``/Schemas`` documents of the dialect, and the
names of the SCIM 1.1 URNs used at ``/scim/v1`` (spec §3.1).
"""

from __future__ import annotations

from scimd.scim.attributes import (
    Attribute,
    AttrType,
    Mutability,
    ResourceType,
    Returned,
    Schema,
    Uniqueness,
)
from scimd.scim.core_schemas import COMMON, ENTERPRISE_URN, GROUP_URN, USER_URN

PROFILE_URN = "urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User"
GUEST_URN = "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User"

V1_CORE = "urn:scim:schemas:core:1.0"
V1_ENTERPRISE = "urn:scim:schemas:extension:enterprise:1.0"
V1_PROFILE = "urn:scim:schemas:extension:slack:profile:1.0"
V1_GUEST = "urn:scim:schemas:extension:slack:guest:1.0"

V1_TO_V2 = {V1_ENTERPRISE: ENTERPRISE_URN, V1_PROFILE: PROFILE_URN, V1_GUEST: GUEST_URN}
V2_TO_V1 = {v: k for k, v in V1_TO_V2.items()}

S = AttrType.STRING
B = AttrType.BOOLEAN
RO = Mutability.READ_ONLY


def _s(name: str, description: str, **kw) -> Attribute:
    return Attribute(name, S, description=description, **kw)


def _primary() -> Attribute:
    return Attribute("primary", B, description="Whether this is the primary value.")


SLACK_USER = Schema(USER_URN, "User", "User Account", (
    _s("userName", "The Slack username: lower case, at most 21 characters.", required=True,
       uniqueness=Uniqueness.SERVER),
    _s("nickName", "The same field as userName (spec §3.2): changing one changes both."),
    Attribute("name", AttrType.COMPLEX, description="The user's full name.", sub_attributes=(
        _s("givenName", "The given (first) name."),
        _s("familyName", "The family (last) name."),
        _s("honorificPrefix", "Honorific prefix, kept as the profile field Honorific Prefix."),
    )),
    _s("displayName", "The Slack display name (at most 80 characters)."),
    Attribute("profileUrl", AttrType.REFERENCE, description="The user's Slack profile URL.",
              mutability=RO, reference_types=("external",)),
    _s("title", "Profile field Title."),
    _s("timezone", "IANA time zone; America/Los_Angeles when not set."),
    Attribute("active", B, description="false when the user is deactivated."),
    _s("password", "Initial password; write-only, cannot be changed later.",
       mutability=Mutability.WRITE_ONLY, returned=Returned.NEVER),
    Attribute("emails", AttrType.COMPLEX, multi_valued=True, required=True,
              description="Primary and one secondary email address.", sub_attributes=(
        _s("value", "The email address.", required=True),
        _s("type", "work, home or other: used to choose the primary, not stored.",
           canonical_values=("work", "home", "other"), returned=Returned.NEVER),
        _primary(),
    )),
    Attribute("photos", AttrType.COMPLEX, multi_valued=True,
              description="The profile photo (one is kept).", sub_attributes=(
        Attribute("value", AttrType.REFERENCE, description="A public or data: URL.",
                  case_exact=True, reference_types=("external",)),
        _s("type", "photo", canonical_values=("photo", "thumbnail")),
        _primary(),
    )),
    Attribute("addresses", AttrType.COMPLEX, multi_valued=True,
              description="One postal address.", sub_attributes=(
        _s("streetAddress", "Street."),
        _s("locality", "City (profile field City)."),
        _s("region", "Region or state."),
        _s("postalCode", "Zip code (profile field Zip Code)."),
        _s("country", "Country (profile field Country)."),
        _s("type", "Used only to choose the address kept.",
           canonical_values=("work", "home", "other"), returned=Returned.NEVER),
        _primary(),
    )),
    Attribute("phoneNumbers", AttrType.COMPLEX, multi_valued=True,
              description="Primary phone and mobile phone (spec §6.3).", sub_attributes=(
        _s("value", "The phone number."),
        _s("type", "mobile or work; see spec §6.3 for how it maps.",
           canonical_values=("work", "home", "mobile", "pager", "fax", "other")),
        _primary(),
    )),
    _s("userType", "Profile field UserType."),
    Attribute("roles", AttrType.COMPLEX, multi_valued=True, description="One role.",
              sub_attributes=(_s("value", "The role."), _primary())),
    _s("preferredLanguage", "Preferred language, e.g. en_US."),
    _s("locale", "Locale, e.g. en-US."),
    Attribute("groups", AttrType.COMPLEX, multi_valued=True, mutability=RO,
              description="Groups the user belongs to.", sub_attributes=(
        _s("value", "Group id.", mutability=RO),
        _s("display", "Group name.", mutability=RO),
    )),
))

SLACK_ENTERPRISE = Schema(ENTERPRISE_URN, "EnterpriseUser", "Enterprise User", (
    _s("employeeNumber", "Profile field Employee ID."),
    _s("costCenter", "Profile field Cost Center."),
    _s("organization", "Profile field Organization."),
    _s("division", "Profile field Division."),
    _s("department", "Profile field Department."),
    Attribute("manager", AttrType.COMPLEX, description="The user's manager.", sub_attributes=(
        _s("managerId", "The manager's Slack id, primary email or username."),
        _s("value", "Accepted on write as managerId (Entra sends it).", returned=Returned.NEVER),
    )),
))

SLACK_PROFILE = Schema(PROFILE_URN, "SlackProfile", "Slack profile fields", (
    _s("startDate", "Start date (ISO 8601), profile field Start Date."),
))

SLACK_GUEST = Schema(GUEST_URN, "SlackGuest", "Slack multi-channel guest", (
    _s("type", "The guest type: only multi is accepted.", canonical_values=("multi",)),
    _s("expiration", "When the guest account expires (ISO 8601)."),
    Attribute("channels", AttrType.COMPLEX, multi_valued=True, mutability=RO,
              description="Channels the guest belongs to (set by administrators).",
              sub_attributes=(_s("value", "Channel id.", mutability=RO),
                              _s("display", "Channel name.", mutability=RO))),
))

SLACK_GROUP = Schema(GROUP_URN, "Group", "Group", (
    _s("displayName", "The group's name.", required=True),
    Attribute("members", AttrType.COMPLEX, multi_valued=True, description="Members (users).",
              sub_attributes=(
        _s("value", "The member's user id.", required=True, mutability=Mutability.IMMUTABLE),
        _s("display", "The member's name.", mutability=RO),
    )),
))

SLACK_USER_TYPE = ResourceType("User", "/Users", "User Account", SLACK_USER,
                               (SLACK_ENTERPRISE, SLACK_PROFILE, SLACK_GUEST), COMMON)
SLACK_GROUP_TYPE = ResourceType("Group", "/Groups", "Group", SLACK_GROUP, (), COMMON)
