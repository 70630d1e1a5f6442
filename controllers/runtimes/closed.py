"""What answers at a suspended workspace's address: a redirect to spe's page saying why.

A suspended (or halted) workspace has no hub: without this, a browser on its URL gets a
connection error (local) or the ingress's 503 (Kubernetes). This small HTTP server takes the
hub's place and sends every request to spe's page saying why the workspace is closed to that
person (``/workspaces/<project>/closed``). It serves nothing else and runs no workspace code.

- Local runtime: :class:`ClosedPage`, a thread of the control plane's own process (it goes
  when the process goes, and the kill switch still stops every workspace process) on the
  hub's public port; the runtime closes it before the hub takes the port back.
- Kubernetes runtime: this file, run as a script in the hub's image (standard library only:
  the image has no spe), by a small Deployment whose pod the hub's Service selects while
  the hub is scaled to zero (:func:`controllers.runtimes.kubernetes.render.closed_page`).

    python3 closed.py --port 8000 --target https://spe.example/workspaces/p-1/closed
"""

from __future__ import annotations

import argparse
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def handler(target: str) -> type[BaseHTTPRequestHandler]:
    """A request handler answering every method on every path with a 303 to ``target``."""

    class Redirect(BaseHTTPRequestHandler):
        def _send(self) -> None:
            self.send_response(303)
            self.send_header("Location", target)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _send

        def log_message(self, *args) -> None:  # no access log on stderr
            pass

    return Redirect


class ClosedPage:
    """Redirects every request on ``host:port`` to ``target``, from a thread."""

    def __init__(self, port: int, target: str, host: str = "127.0.0.1") -> None:
        self.target = target
        self.server = ThreadingHTTPServer((host, port), handler(target))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       name=f"closed-page:{port}", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Redirect every request to spe's page.")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104  (in its own pod)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="spe's /workspaces/<id>/closed URL")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), handler(args.target))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
