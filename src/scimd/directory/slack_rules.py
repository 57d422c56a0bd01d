"""Slack's provisioning rules (spec §3, §4, §6.3, §6.4, §12, §13, §16).

Pure functions over the stored form of a user; :mod:`scimd.directory.slack_policy`
calls them on every write in the ``slack`` dialect, for SCIM 1.1 and 2.0 alike.
"""

from __future__ import annotations

import re
import unicodedata

from scimd.scim.errors import ScimError

USERNAME_MAX = 21
DISPLAY_NAME_MAX = 80
STRING_MAX = 1000
MAX_EMAILS = 2
DEFAULT_TIMEZONE = "America/Los_Angeles"
RESERVED_USERNAMES = frozenset({
    "everyone", "channel", "here", "group", "slackbot", "slack", "admin", "administrator",
    "owner", "bot", "app", "help", "system", "root", "null", "undefined",
})
_USERNAME_KEEP = re.compile(r"[^a-z0-9._-]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EMOJI_SHORTCODE = re.compile(r":[a-z0-9_+-]+:")


def bad_request(code: str, detail: str, context: str | None = None) -> ScimError:
    return ScimError(400, code, detail, "invalidValue", context=context)


def username(raw: object, *, creating: bool, user_id: str | None = None) -> str:
    """A Slack username from ``userName``/``nickName`` (spec §3.2).

    Lower case; characters other than letters, digits, ``.``, ``_`` and ``-``
    become ``_``; an email address gives its local part (truncated to 21
    characters); otherwise more than 21 characters is an error.
    """
    ctx = f"user={user_id}" if user_id else None
    if not isinstance(raw, str) or not raw.strip():
        raise bad_request("username_required" if raw is None else "username_empty",
                          "userName cannot be empty.", ctx)
    text = raw.strip().lower()
    from_email = "@" in text and bool(_EMAIL.match(text))
    if from_email:
        text = text.split("@", 1)[0]
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _USERNAME_KEEP.sub("_", ascii_text or text)
    if from_email:
        text = text[:USERNAME_MAX]
    if not text.strip("._-"):
        raise bad_request("username_invalid", f"{raw!r} is not a usable username.", ctx)
    if len(text) > USERNAME_MAX:
        code = "username_too_long" if creating else "long_username"
        raise bad_request(code, f"userName is longer than {USERNAME_MAX} characters.", ctx)
    if text in RESERVED_USERNAMES:
        raise bad_request("username_not_allowed", f"{text!r} is a reserved name.", ctx)
    return text


def has_emoji(text: str) -> bool:
    if _EMOJI_SHORTCODE.search(text):
        return True
    return any(unicodedata.category(ch) == "So" or 0x1F000 <= ord(ch) <= 0x1FAFF
               or ch == "\ufe0f" for ch in text)


def display_name(text: str, user_id: str | None = None) -> str:
    """Check a display name (spec §3.2): 80 characters, no ``@``, no emoji."""
    ctx = f"user={user_id}" if user_id else None
    if text.startswith("@"):
        raise bad_request("invalid_starts_with_at", "displayName cannot start with @.", ctx)
    if "@" in text:
        raise bad_request("invalid_name_specials", "displayName cannot contain @.", ctx)
    if has_emoji(text):
        raise bad_request("invalid_emoji_not_allowed", "displayName cannot contain emoji.", ctx)
    if len(text) > DISPLAY_NAME_MAX:
        raise bad_request("invalid_name_maxlength",
                          f"displayName is longer than {DISPLAY_NAME_MAX} characters.", ctx)
    return text


def emails(items: list[dict]) -> list[dict]:
    """Keep two emails: the primary (``primary``, else type ``work``, else the first)
    and the last other one (spec §3.2). Answers ``[{value, primary}]``, primary first."""
    valid = []
    for item in items:
        value = item.get("value")
        if not isinstance(value, str) or not _EMAIL.match(value.strip()):
            raise bad_request("bad_email_address", f"{value!r} is not an email address.")
        valid.append({**item, "value": value.strip()})
    if not valid:
        return []
    primary = next((e for e in valid if e.get("primary") is True), None) \
        or next((e for e in valid if str(e.get("type", "")).lower() == "work"), None) \
        or valid[0]
    rest = [e for e in valid if e is not primary
            and e["value"].lower() != primary["value"].lower()]
    kept = [{"value": primary["value"], "primary": True}]
    if rest:  # the latest other address is the secondary (an added one replaces it)
        kept.append({"value": rest[-1]["value"], "primary": False})
    return kept


def phones(items: list[dict]) -> list[dict]:
    """Map phone numbers to Slack's primaryPhone and mobilePhone (spec §6.3).

    ``primary: true`` → primary, ``primary: false`` → mobile, else ``type:
    mobile`` → primary (sic), ``type: work`` → mobile, a bare number → primary;
    later entries win. Stored as ``[{value, primary: true}, {value, primary: false}]``.
    """
    primary = mobile = None
    for item in items:
        value = item.get("value")
        if value is None:
            continue
        flag = item.get("primary")
        kind = str(item.get("type", "")).lower()
        if flag is True:
            primary = value
        elif flag is False:
            mobile = value
        elif kind in ("mobile", ""):
            primary = value
        elif kind == "work":
            mobile = value
        else:
            raise bad_request("phoneNumbers_invalid",
                              f"A phone number of type {kind!r} has no place in Slack.")
    out = []
    if primary is not None:
        out.append({"value": primary, "primary": True})
    if mobile is not None:
        out.append({"value": mobile, "primary": False})
    return out


def one(items: list[dict], drop: tuple[str, ...] = ()) -> list[dict]:
    """Keep one entry of a multi-valued attribute: the primary, else the first (spec §3.2)."""
    if not items:
        return []
    chosen = next((i for i in items if i.get("primary") is True), items[0])
    return [{k: v for k, v in chosen.items() if k not in drop}]


def check_lengths(value: object, path: str = "") -> None:
    """Strings without a documented limit take up to 1,000 characters (spec §16.20)."""
    if isinstance(value, str):
        if len(value) > STRING_MAX:
            raise bad_request("invalid_attribute_format",
                              f"{path or 'a value'} is longer than {STRING_MAX} characters.")
    elif isinstance(value, dict):
        for key, sub in value.items():
            check_lengths(sub, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for sub in value:
            check_lengths(sub, path)
