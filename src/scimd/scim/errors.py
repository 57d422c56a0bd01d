"""SCIM errors (RFC 7644 §3.12), carrying Slack's error code alongside.

Domain and protocol code raise :class:`ScimError`; the wire adapters render it
in the shape of the request's protocol version and the tenant's dialect.
"""

from __future__ import annotations


class ScimError(Exception):
    """An error answer.

    ``code`` is Slack's snake_case error code (spec §7.3), ``scim_type`` the
    RFC 7644 §3.12 ``scimType`` (or ``None``), ``detail`` a human-readable
    explanation and ``context`` Slack's optional parenthesised context.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | None = None,
        scim_type: str | None = None,
        context: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail or code
        self.scim_type = scim_type
        self.context = context
        self.headers = headers or {}
        self.dialect: str | None = None
        """The dialect of the tenant the request named, when known before routing."""
        self.attribute: str | None = None
        """The top-level attribute (or extension URN) whose value was refused, if any."""


def invalid_filter(detail: str, code: str = "invalid_query") -> ScimError:
    """400 ``invalidFilter`` (RFC 7644 §3.4.2.2)."""
    return ScimError(400, code, detail, "invalidFilter")


def invalid_syntax(detail: str, code: str = "invalid_request_payload") -> ScimError:
    """400 ``invalidSyntax`` (RFC 7644 §3.12)."""
    return ScimError(400, code, detail, "invalidSyntax")


def invalid_value(detail: str, code: str = "invalid_attribute_format") -> ScimError:
    """400 ``invalidValue`` (RFC 7644 §3.12)."""
    return ScimError(400, code, detail, "invalidValue")


def invalid_path(detail: str, code: str = "invalid_request_payload") -> ScimError:
    """400 ``invalidPath`` (RFC 7644 §3.5.2)."""
    return ScimError(400, code, detail, "invalidPath")


def no_target(detail: str, code: str = "invalid_request_payload") -> ScimError:
    """400 ``noTarget`` (RFC 7644 §3.5.2)."""
    return ScimError(400, code, detail, "noTarget")


def mutability(detail: str, code: str = "invalid_request_payload") -> ScimError:
    """400 ``mutability`` (RFC 7644 §3.5.2)."""
    return ScimError(400, code, detail, "mutability")


def uniqueness(detail: str, code: str) -> ScimError:
    """409 ``uniqueness`` (RFC 7644 §3.3)."""
    return ScimError(409, code, detail, "uniqueness")


def not_found(detail: str, code: str) -> ScimError:
    """404 for an unknown resource (RFC 7644 §3.12)."""
    return ScimError(404, code, detail)
