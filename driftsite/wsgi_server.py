"""Serve a WSGI application with waitress (a production server) in a thread, until ``stop``.

Used by ``run_stack`` for the API/dashboard and for the internal fold endpoint.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def serve_until(stop: threading.Event, app, *, host: str, port: int, threads: int, ident: str,
                on_listening=None) -> None:
    """Run ``app`` on ``host:port`` until ``stop`` is set; ``on_listening(port)`` is called once
    the socket is bound (the effective port, for port 0)."""
    from waitress.server import create_server

    server = create_server(app, host=host, port=port, threads=threads, ident=ident)
    if on_listening is not None:
        on_listening(server.effective_port)

    def closer():
        stop.wait()
        server.close()

    threading.Thread(target=closer, name=f"{ident}-closer", daemon=True).start()
    try:
        server.run()
    except OSError:
        if not stop.is_set():
            raise
