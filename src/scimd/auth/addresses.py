"""Client addresses and token IP allowlists (spec §1.3; DESIGN.md "Tenancy and access").

The client is the socket peer, or, when that peer is a configured trusted
proxy, the right-most ``X-Forwarded-For`` entry that is not itself a trusted
proxy. A header sent by anyone else is ignored, so it cannot be spoofed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

MAX_ENTRIES = 10
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AllowlistError(ValueError):
    """An allowlist entry Slack would refuse (spec §1.3)."""


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """Parse CIDRs or bare addresses (a bare address is a /32 or /128)."""
    return [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]


def normalize_allowlist(entries: Sequence[str], *, allow_private: bool) -> list[str]:
    """Check a token allowlist: at most 10 IPv4 entries, no IPv6, no private ranges unless
    the operator allows them. Returns the entries in CIDR form."""
    if len(entries) > MAX_ENTRIES:
        raise AllowlistError(f"at most {MAX_ENTRIES} entries are allowed")
    out = []
    for entry in entries:
        try:
            net = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise AllowlistError(f"{entry!r} is not an IPv4 address or CIDR range") from None
        if net.version != 4:
            raise AllowlistError(f"{entry!r}: IPv6 is not supported")
        if not allow_private and (net.is_private or net.is_loopback or net.is_link_local):
            raise AllowlistError(f"{entry!r} is a private (local) range; set "
                                 "SCIMD_ALLOW_PRIVATE_IPS=1 to allow it")
        out.append(str(net))
    return out


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: Sequence[Network]) -> str | None:
    """The request's client address (see the module docstring)."""
    if peer is None:
        return None
    if not forwarded_for or not _in_any(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in_any(hop, trusted):
            return hop
    return hops[0] if hops else peer


def allowed(address: str | None, allowlist: Sequence[str] | None) -> bool:
    """Whether ``address`` may use a token with this allowlist (no list: anyone)."""
    if not allowlist:
        return True
    if address is None:
        return False
    return _in_any(address, parse_networks(allowlist))


def _in_any(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == n.version and ip in n for n in networks)
