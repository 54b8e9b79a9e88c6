"""The handoff's answer: send the request back to the client, for a newer release to take.

A process whose release is not the one named by ``<prefix>:handoff`` answers each request
it would run with ``307 Temporary Redirect`` to the very path and query it was asked for,
ending the connection: the client re-sends the request, same method and body (RFC 9110,
15.4.8), on a new connection that the server or proxy gives to another process. The
request never reached the app, so sending it again is safe.

The ``Location`` is built from the request target only, and made safe first: every byte
outside RFC 3986's path and query characters is percent-encoded (backslashes, spaces,
quotes, control characters, non-ASCII), a ``%`` that starts no escape is encoded, and a
target that would read as another host (``//evil.example``) or has no leading slash
(an absolute-form ``http://evil.example/``) is pinned to this origin. Pure functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gatekeeper.core.decision import path_matches
from gatekeeper.core.responses import Reply

if TYPE_CHECKING:
    from gatekeeper.options import GateOptions

__all__ = ["DISCARD_LIMIT", "HANDOFF_NOTE", "encode_path", "handoff_reply", "redirect_location"]

HANDOFF_NOTE = b"This server is being upgraded: please repeat the request.\n"
DISCARD_LIMIT = 1 << 20
"""Body bytes the adapters read and drop before a handoff's reply; past it they stop."""

_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_PATH_SAFE = frozenset(_UNRESERVED + b"!$&'()*+,;=:@/")
_QUERY_SAFE = frozenset(_PATH_SAFE | frozenset(b"?"))
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _encode(raw: bytes, safe: frozenset[int]) -> str:
    out: list[str] = []
    for i, byte in enumerate(raw):
        if byte == 0x25:  # "%": kept only where it begins an escape
            escape = raw[i + 1 : i + 3]
            out.append("%" if len(escape) == 2 and set(escape) <= _HEX else "%25")
        elif byte in safe:
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def encode_path(path: bytes) -> bytes:
    """A percent-decoded path (PATH_INFO's bytes, an ASGI ``path``) in request-target form."""
    return _encode(path.replace(b"%", b"%25"), _PATH_SAFE).encode("ascii")


def redirect_location(target: bytes) -> str:
    """A same-origin ``Location`` for the request target ``target`` (path and query).

    >>> redirect_location(b"//evil.example/x?a=1")
    '/%2Fevil.example/x?a=1'
    """
    path, sep, query = target.partition(b"?")
    if not path.startswith(b"/"):
        path = b"/" + path
    location = _encode(path, _PATH_SAFE)
    if location.startswith("//"):
        # "//host" is a network-path reference; "/%2F" names the same path here
        # (servers decode it to the same PATH_INFO) and stays on this origin.
        location = "/%2F" + location[2:]
    if sep:
        location += "?" + _encode(query, _QUERY_SAFE)
    return location


def handoff_reply(target: bytes, *, method: str, path: str, options: GateOptions) -> Reply:
    """The 307 to the same target; for paths under ``api_prefixes`` with
    ``handoff_api="reject"``, the JSON 503 with ``Retry-After: 1`` instead.

    Either way the connection ends after it (the adapters add ``Connection: close`` in
    their server's way), so the retry opens a new one.
    """
    if options.handoff_api == "reject" and path_matches(path, options.api_prefixes):
        body = (
            b'{"error": "service_unavailable", "reason": "handoff", '
            b'"message": "Restarting on new code: retry the request.", "retry_after": 1}'
        )
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", "1"),
            ("Cache-Control", "no-store"),
            ("X-Gatekeeper", "handoff"),
        ]
        return Reply(503, headers, b"" if method.upper() == "HEAD" else body)
    # Not chosen by Accept: a browser's fetch() asking for JSON follows a 307 anyway.
    headers = [
        ("Location", redirect_location(target)),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(HANDOFF_NOTE))),
        ("Retry-After", "0"),
        ("Cache-Control", "no-store"),
        ("X-Gatekeeper", "handoff"),
    ]
    return Reply(307, headers, b"" if method.upper() == "HEAD" else HANDOFF_NOTE)
