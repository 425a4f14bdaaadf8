"""Serve a WSGI app over real HTTP on a free loopback port for the length of a test.

Integration tests talk to the portal and to the emulators through this, exactly as a browser or the
portal itself would: real sockets, real HTTP parsing, nothing patched.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server


@contextmanager
def live_server(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` in a threaded werkzeug server; yield its base URL (no trailing slash)."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    """A loopback port nothing listens on (for "connection refused", then to start a service on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DeferredApp:
    """A WSGI app set after its server has a port (e.g. the portal needs the emulator's URL, the
    emulator needs the portal's redirect URI)."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)
