"""Capture what travels to one TCP port on the loopback interface (an ``AF_PACKET`` socket, as
tcpdump uses; the tests run as root), to check what the gateway really sends to an agent."""

from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType

ETH_P_ALL = 0x0003
ETH_HEADER = 14


class PortSniffer:
    """Every TCP payload sent to ``port`` on ``lo`` while it is open."""

    def __init__(self, port: int, interface: str = "lo") -> None:
        self.port = port
        self.interface = interface
        self.payload = bytearray()
        self._stop = threading.Event()
        self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self._socket.bind((interface, 0))
        self._socket.settimeout(0.1)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PortSniffer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, address = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            if address[2] == socket.PACKET_OUTGOING:
                continue  # on lo every packet is seen twice: keep the incoming copy
            self._take(frame)

    def _take(self, frame: bytes) -> None:
        ip = frame[ETH_HEADER:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_TCP:
            return
        ip_length = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ip_length:total]
        if len(tcp) < 20 or struct.unpack("!H", tcp[2:4])[0] != self.port:
            return
        self.payload += tcp[(tcp[12] >> 4) * 4 :]
