"""
``python -m ibw.daphne <daphne arguments>``: Daphne that drains on SIGTERM.

A deploy (or a scale-down) sends SIGTERM. Plain Daphne then cancels every
application at once: sockets drop without a close frame and clients learn it
only from a timeout. This server instead, on SIGTERM:

1. marks the process draining, so ``/ready`` answers 503 (the load balancer
   stops routing here) and WebSocket connections that still arrive are
   closed with 1001 at once;
2. waits ``WS_DRAIN_DELAY_SECONDS`` (default 1) for the balancer to notice;
3. closes every open WebSocket with 1001 "going away", so clients reconnect
   to another process at once;
4. exits when they are closed, or after ``WS_DRAIN_GRACE_SECONDS`` (default
   10) at the latest: keep it below the orchestrator's grace period.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import defer

from ibw.draining import start_draining

CLOSE_GOING_AWAY = 1001


class DrainingServer(Server):
    def kill_all_applications(self):
        """Drain the sockets first, then let Daphne cancel what is left."""
        drained = defer.Deferred.fromFuture(asyncio.ensure_future(self.drain()))
        drained.addBoth(lambda _: super(DrainingServer, self).kill_all_applications())
        return drained

    def _open_sockets(self, *, opened_after: float = 0.0) -> list[WebSocketProtocol]:
        return [
            protocol
            for protocol, details in self.connections.items()
            if isinstance(protocol, WebSocketProtocol)
            and "disconnected" not in details
            and details["connected"] >= opened_after
            and protocol.state == WebSocketProtocol.STATE_OPEN
        ]

    @staticmethod
    def _going_away(protocol: WebSocketProtocol) -> None:
        # sendClose() refuses 1001 from applications; the server itself may send it.
        protocol.sendCloseFrame(code=CLOSE_GOING_AWAY, isReply=False)

    async def drain(self) -> None:
        delay = float(os.environ.get("WS_DRAIN_DELAY_SECONDS", "1"))
        grace = float(os.environ.get("WS_DRAIN_GRACE_SECONDS", "10"))
        started = time.time()
        deadline = time.monotonic() + grace
        start_draining()
        # While the balancer notices, a newcomer is sent elsewhere at once.
        close_all_at = time.monotonic() + min(delay, grace)
        while time.monotonic() < close_all_at:
            for protocol in self._open_sockets(opened_after=started):
                self._going_away(protocol)
            await asyncio.sleep(0.05)
        while time.monotonic() < deadline:
            sockets = self._open_sockets()
            if not sockets and not self._closing_sockets():
                return
            for protocol in sockets:
                self._going_away(protocol)
            await asyncio.sleep(0.05)

    def _closing_sockets(self) -> list[WebSocketProtocol]:
        return [
            protocol
            for protocol, details in self.connections.items()
            if isinstance(protocol, WebSocketProtocol) and "disconnected" not in details
        ]


class DrainingCommandLineInterface(CommandLineInterface):
    server_class = DrainingServer


def main() -> None:
    DrainingCommandLineInterface().run(sys.argv[1:])


if __name__ == "__main__":
    main()
