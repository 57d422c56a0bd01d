"""Resource versions as weak ETags (RFC 7644 §3.14, RFC 7232)."""

from __future__ import annotations

from scimd.scim.errors import ScimError


def etag(version: int) -> str:
    return f'W/"{version}"'


def _tags(header: str) -> list[str]:
    return [part.strip() for part in header.split(",") if part.strip()]


def _same(tag: str, version: int) -> bool:
    tag = tag[2:] if tag.startswith(("W/", "w/")) else tag
    return tag.strip('"') == str(version)


def check_if_match(header: str | None, version: int) -> None:
    """412 unless ``If-Match`` is absent, ``*`` or names the current version."""
    if header is None:
        return
    tags = _tags(header)
    if "*" in tags or any(_same(tag, version) for tag in tags):
        return
    raise ScimError(412, "precondition_failed",
                    "The resource has changed since the version given in If-Match.")


def matches_none(header: str | None, version: int) -> bool:
    """Whether ``If-None-Match`` names the current version (a GET then answers 304)."""
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or any(_same(tag, version) for tag in tags)
