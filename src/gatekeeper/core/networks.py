"""Client addresses: CIDR lists, and which address a request really comes from.

The socket peer is the truth. ``X-Forwarded-For`` is read only when the peer is one of
the configured ``trusted_proxies``, and then from the right: each hop that is itself a
trusted proxy is skipped, and the first one that is not is the client. A malformed
entry ends the walk, so a forged or broken header never yields an exempt address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

__all__ = ["IPAddress", "IPNetwork", "client_address", "in_networks", "parse_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAX_HOPS = 32


def parse_address(raw: str | None) -> IPAddress | None:
    """An address from a socket peer or header entry, or ``None`` when it is not one.

    IPv4-mapped IPv6 addresses (``::ffff:10.0.0.1``, as dual-stack sockets report them)
    become plain IPv4 so that IPv4 networks match them.
    """
    if not raw:
        return None
    text = raw.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:8000" from some proxies
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: IPAddress | None, networks: Iterable[IPNetwork]) -> bool:
    if address is None:
        return False
    return any(address in network for network in networks)


def client_address(
    peer: str | None,
    forwarded_for: str | None,
    trusted_proxies: Sequence[IPNetwork],
) -> IPAddress | None:
    """The address a request is judged by (see the module docstring)."""
    address = parse_address(peer)
    if address is None or not forwarded_for or not in_networks(address, trusted_proxies):
        return address
    hops = forwarded_for.split(",")[-_MAX_HOPS:]
    for hop in reversed(hops):
        candidate = parse_address(hop)
        if candidate is None:
            break
        address = candidate
        if not in_networks(candidate, trusted_proxies):
            break
    return address
