"""What answers at a suspended workspace's address on the local runtime.

A suspended (or halted) workspace has no hub: without this, a browser on its URL gets a
connection error. A small HTTP server in the control plane's own process (a thread: it
goes when the process goes, and the kill switch still stops every workspace process) takes
the hub's public port and sends every request to spe's page saying why the workspace is
closed to that person (``/workspaces/<project>/closed``). It serves nothing else and runs
no workspace code. The runtime closes it before the hub takes the port back.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ClosedPage:
    """Redirects every request on ``127.0.0.1:<port>`` to ``target``."""

    def __init__(self, port: int, target: str) -> None:
        class Redirect(BaseHTTPRequestHandler):
            def _send(self) -> None:
                self.send_response(303)
                self.send_header("Location", target)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _send

            def log_message(self, *args) -> None:  # no access log on stderr
                pass

        self.target = target
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Redirect)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       name=f"closed-page:{port}", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
