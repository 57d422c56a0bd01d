"""The core User and Group schemas and the enterprise User extension.

Transcribed from RFC 7643 §3.1 (common attributes), §4.1 (User), §4.2 (Group),
§4.3 (EnterpriseUser) and the normative representation of §8.7.1.
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

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

S = AttrType.STRING
RO = Mutability.READ_ONLY


def _s(name: str, description: str = "", **kw) -> Attribute:
    return Attribute(name, S, description=description, **kw)


def _multi(name: str, description: str, subs: tuple[Attribute, ...], **kw) -> Attribute:
    return Attribute(
        name, AttrType.COMPLEX, multi_valued=True, description=description,
        sub_attributes=subs, **kw,
    )


def _typed_multi(
    name: str, description: str, canonical: tuple[str, ...], value_type: AttrType = S,
    value_kw: dict | None = None,
) -> Attribute:
    """A multi-valued attribute of the usual value/display/type/primary shape (RFC 7643 §2.4)."""
    return _multi(name, description, (
        Attribute("value", value_type, description=f"The {name} value.", **(value_kw or {})),
        _s("display", "A human-readable name, primarily used for display purposes."),
        _s("type", "A label indicating the attribute's function.", canonical_values=canonical),
        Attribute("primary", AttrType.BOOLEAN,
                  description="Indicates the primary or preferred value."),
    ))


# RFC 7643 §3.1 — attributes of every resource, listed in no schema's "attributes".
ID = Attribute(
    "id", S, description="Unique identifier for the resource, assigned by the service provider.",
    case_exact=True, mutability=RO, returned=Returned.ALWAYS, uniqueness=Uniqueness.SERVER,
)
EXTERNAL_ID = _s("externalId", "An identifier for the resource as defined by the client.",
                 case_exact=True)
META = Attribute("meta", AttrType.COMPLEX, description="Resource metadata.", mutability=RO,
                 sub_attributes=(
    _s("resourceType", "The name of the resource type of the resource.",
       case_exact=True, mutability=RO),
    Attribute("created", AttrType.DATETIME, description="When the resource was added.",
              mutability=RO),
    Attribute("lastModified", AttrType.DATETIME,
              description="When the resource was last modified.", mutability=RO),
    Attribute("location", AttrType.REFERENCE, description="The URI of the resource.",
              case_exact=True, mutability=RO, reference_types=("uri",)),
    _s("version", "The version (ETag) of the resource.", case_exact=True, mutability=RO),
))
COMMON = (ID, EXTERNAL_ID, META)

_ADDRESS_SUBS = (
    _s("formatted", "The full mailing address, formatted for display."),
    _s("streetAddress", "The full street address component."),
    _s("locality", "The city or locality component."),
    _s("region", "The state or region component."),
    _s("postalCode", "The zip code or postal code component."),
    _s("country", "The country name component (ISO 3166-1 alpha-2)."),
    _s("type", "A label indicating the address's function.",
       canonical_values=("work", "home", "other")),
    Attribute("primary", AttrType.BOOLEAN, description="The primary address."),
)

_MEMBERSHIP_SUBS = (
    _s("value", "The identifier of the group.", mutability=RO),
    Attribute("$ref", AttrType.REFERENCE, description="The URI of the group.",
              mutability=RO, reference_types=("Group",)),
    _s("display", "A human-readable name of the group.", mutability=RO),
    _s("type", "Membership type: direct or indirect.", mutability=RO,
       canonical_values=("direct", "indirect")),
)

USER = Schema(USER_URN, "User", "User Account", (
    _s("userName", "Unique identifier for the User, used to authenticate.",
       required=True, uniqueness=Uniqueness.SERVER),
    Attribute("name", AttrType.COMPLEX, description="The components of the user's name.",
              sub_attributes=(
        _s("formatted", "The full name, formatted for display."),
        _s("familyName", "The family name."),
        _s("givenName", "The given name."),
        _s("middleName", "The middle name(s)."),
        _s("honorificPrefix", "The honorific prefix(es)."),
        _s("honorificSuffix", "The honorific suffix(es)."),
    )),
    _s("displayName", "The name of the User, suitable for display to end-users."),
    _s("nickName", "The casual way to address the user."),
    Attribute("profileUrl", AttrType.REFERENCE, description="A URI of the user's profile.",
              reference_types=("external",)),
    _s("title", "The user's title."),
    _s("userType", "The relationship between the organization and the user."),
    _s("preferredLanguage", "The user's preferred written or spoken language."),
    _s("locale", "The user's default location for localization."),
    _s("timezone", "The User's time zone in the IANA Time Zone database format."),
    Attribute("active", AttrType.BOOLEAN, description="The user's administrative status."),
    _s("password", "The User's cleartext password.", mutability=Mutability.WRITE_ONLY,
       returned=Returned.NEVER),
    _typed_multi("emails", "Email addresses for the user.", ("work", "home", "other")),
    _typed_multi("phoneNumbers", "Phone numbers for the User.",
                 ("work", "home", "mobile", "fax", "pager", "other")),
    _typed_multi("ims", "Instant messaging addresses for the User.",
                 ("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo")),
    _typed_multi("photos", "URLs of photos of the User.", ("photo", "thumbnail"),
                 value_type=AttrType.REFERENCE,
                 value_kw={"reference_types": ("external",), "case_exact": True}),
    _multi("addresses", "A physical mailing address for this User.", _ADDRESS_SUBS),
    _multi("groups", "A list of groups to which the user belongs.", _MEMBERSHIP_SUBS,
           mutability=RO),
    _typed_multi("entitlements", "A list of entitlements for the User.", ()),
    _typed_multi("roles", "A list of roles for the User.", ()),
    _multi("x509Certificates", "A list of certificates issued to the User.", (
        Attribute("value", AttrType.BINARY, description="The certificate value."),
        _s("display", "A human-readable name."),
        _s("type", "A label indicating the attribute's function."),
        Attribute("primary", AttrType.BOOLEAN, description="The primary value."),
    )),
))

ENTERPRISE_USER = Schema(ENTERPRISE_URN, "EnterpriseUser", "Enterprise User", (
    _s("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
    _s("costCenter", "Identifies the name of a cost center."),
    _s("organization", "Identifies the name of an organization."),
    _s("division", "Identifies the name of a division."),
    _s("department", "Identifies the name of a department."),
    Attribute("manager", AttrType.COMPLEX, description="The User's manager.", sub_attributes=(
        _s("value", "The id of the SCIM resource representing the User's manager."),
        Attribute("$ref", AttrType.REFERENCE, description="The URI of the manager.",
                  reference_types=("User",)),
        _s("displayName", "The displayName of the User's manager.", mutability=RO),
    )),
))

GROUP = Schema(GROUP_URN, "Group", "Group", (
    _s("displayName", "A human-readable name for the Group.", required=True),
    _multi("members", "A list of members of the Group.", (
        _s("value", "Identifier of the member of this Group.", required=True,
           mutability=Mutability.IMMUTABLE),
        Attribute("$ref", AttrType.REFERENCE, description="The URI of the member.",
                  mutability=Mutability.IMMUTABLE, reference_types=("User", "Group")),
        _s("type", "The type of the member: User or Group.", mutability=Mutability.IMMUTABLE,
           canonical_values=("User", "Group")),
    )),
))

USER_TYPE = ResourceType("User", "/Users", "User Account", USER, (ENTERPRISE_USER,), COMMON)
GROUP_TYPE = ResourceType("Group", "/Groups", "Group", GROUP, (), COMMON)
RESOURCE_TYPES = {"User": USER_TYPE, "Group": GROUP_TYPE}
SCHEMAS = {s.id: s for s in (USER, ENTERPRISE_USER, GROUP)}
