"""The client's address, for every rate limit and lockout: one function, ``client_address``.

Behind the documented load balancer every request's direct peer (``REMOTE_ADDR``) is the
balancer, so counting by peer would put every client in one bucket. The balancer says
who its peer was in a header (``CLIENT_ADDRESS_HEADER``, by default ``X-Forwarded-For``),
but so can anybody: a client may send the header itself with any value. So the header is
read only when the direct peer is one of ``TRUSTED_PROXIES`` (addresses or CIDR
networks), and then from the right: each trusted proxy appends the address it saw, so
the rightmost address that is not a trusted proxy is the client, and what lies to its
left (written by the client or by hops we do not trust) is ignored.

With no trusted proxy (the default) the header is never read and the client is the peer.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy.strip(), strict=False) for proxy in proxies)


def _meta_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.9:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client seen by a dual-stack proxy: compare and count it as IPv4.
    return getattr(address, "ipv4_mapped", None) or address


def client_address(request) -> str:
    """The address of the client that sent ``request`` (an ``HttpRequest``, or anything
    with a ``META`` dict), as a string; ``""`` when the server was given none."""
    meta = request.META
    peer = meta.get("REMOTE_ADDR", "") or ""
    trusted = _networks(tuple(settings.TRUSTED_PROXIES))
    peer_address = _address(peer)
    if not trusted or peer_address is None or not _is_trusted(peer_address, trusted):
        return peer
    client = peer_address
    for hop in reversed(meta.get(_meta_key(settings.CLIENT_ADDRESS_HEADER), "").split(",")):
        address = _address(hop)
        if address is None:
            # Malformed by a hop we trusted: keep the last address we could vouch for.
            break
        client = address
        if not _is_trusted(address, trusted):
            break
    return str(client)


def _is_trusted(address, trusted: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)
