"""Free TCP ports for test servers, from the standard library only (``.ci/run`` uses it before
the virtual environment exists).

Ports are chosen below Linux's ephemeral range (32768-60999 by default): a port the kernel
hands out for binding to 0 can be taken by any outgoing connection (a database client, say)
between choosing it and the server binding it, which made a test fail now and then with
"address already in use". System randomness, so parallel workers do not pick in step.
"""

from __future__ import annotations

import random
import socket

HOST = "127.0.0.1"
_PORTS = range(20000, 32768)
_RANDOM = random.SystemRandom()


def free_port() -> int:
    """A port on ``HOST`` that nothing listens on now and no client connection will take."""
    for _ in range(200):
        port = _RANDOM.choice(_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port on {HOST} in {_PORTS.start}-{_PORTS.stop - 1}")
