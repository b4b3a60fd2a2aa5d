"""The client's address as per-address throttles must see it, also behind reverse proxies.

Behind a proxy the direct peer (``REMOTE_ADDR``) is the proxy: every client would share one throttle
bucket, and an attacker could not be told apart from everyone else. ``X-Forwarded-For`` names the
client, but any client can send that header, so it is believed only from ``settings.TRUSTED_PROXIES``
(IPs or CIDRs): when the direct peer is one of them, the header is read from the right (each proxy
appends the address it received the request from), trusted proxies are skipped, and the first
address that is not a trusted proxy is the client. From any other peer the header is ignored.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    # Entries were checked when the settings loaded; cached per value so tests can override them.
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _parse(text: str) -> Address | None:
    """``text`` as an address ("1.2.3.4", "2001:db8::1"; a port, "1.2.3.4:80" or "[2001:db8::1]:80",
    is dropped), or None when it is not one. IPv4-mapped IPv6 ("::ffff:1.2.3.4") becomes IPv4."""
    text = text.strip()
    if text.startswith("["):
        host, closed, _ = text[1:].partition("]")
        text = host if closed else text
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)  # a v4 address is never in a v6 network


def client_address(request: HttpRequest) -> str:
    """The address of the client that sent ``request``, for per-address throttles.

    Without ``TRUSTED_PROXIES``, or when the direct peer is not in it, this is ``REMOTE_ADDR``
    (normalized) and ``X-Forwarded-For`` is ignored. Behind a trusted proxy it is the rightmost
    address of ``X-Forwarded-For`` that is not a trusted proxy. An entry that is not an address ends
    the walk: the last address a trusted proxy vouched for is used (never anything to the left of
    garbage, which the client may have written). Never raises; "unknown" when there is no peer.
    """
    peer_text = request.META.get("REMOTE_ADDR", "")
    peer = _parse(peer_text)
    if peer is None:
        return peer_text.strip() or "unknown"
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not _trusted(peer, networks):
        return str(peer)
    address = peer
    for entry in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop = _parse(entry)
        if hop is None:
            break
        address = hop
        if not _trusted(hop, networks):
            break
    return str(address)
