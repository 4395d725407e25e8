"""
Whether this process is draining: it got SIGTERM and is handing its sockets
back (see ``ibw.daphne``). ``/ready`` answers 503 from that moment, and new
WebSocket connections are closed with 1001 so clients reconnect elsewhere.

Process-local on purpose: it describes this process, not the deployment.
"""

from __future__ import annotations

import threading

_draining = threading.Event()


def start_draining() -> None:
    _draining.set()


def is_draining() -> bool:
    return _draining.is_set()
