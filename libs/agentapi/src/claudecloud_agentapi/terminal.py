"""``WS /terminal``: ttyd's wire protocol, so ttyd's own web client fits as well as ours.

Frames are binary; the first byte says what the rest is. From the client: ``'0'`` input, ``'1'``
resize ``{"columns": c, "rows": r}``, ``'2'`` pause and ``'3'`` resume output, ``'{'`` the opening
JSON (``{"columns", "rows"}``). From the server: ``'0'`` output, ``'1'`` window title, ``'2'``
preferences (JSON).
"""

from __future__ import annotations

__all__ = [
    "INPUT",
    "OPENING",
    "OUTPUT",
    "PAUSE",
    "PREFERENCES",
    "RESIZE",
    "RESUME",
    "SUBPROTOCOL",
    "TITLE",
]

SUBPROTOCOL = "tty"
"""The WebSocket subprotocol ttyd's client asks for."""

# From the client
INPUT, RESIZE, PAUSE, RESUME, OPENING = b"0", b"1", b"2", b"3", b"{"
# From the server
OUTPUT, TITLE, PREFERENCES = b"0", b"1", b"2"
