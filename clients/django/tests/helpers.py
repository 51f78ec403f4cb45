"""Shared by the unit tests: the package on sys.path, minimal Django
settings, and a small keep-alive HTTP server that answers as blnode's API
would and counts the connections it accepted."""

import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "blnode_django"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        SECRET_KEY="unit-tests",
        BLNODE_URL="http://127.0.0.1:9",
        USE_TZ=True,
    )
    django.setup()


class StubServer:
    """An HTTP/1.1 server on a free loopback port. handler(method, path,
    headers, body) returns (status, dict); close_after closes each
    connection after that many requests (as a server closing idle ones)."""

    def __init__(self, handler, close_after=0):
        stub = self
        self.connections = 0
        self.requests = []
        self._lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.served = 0
                with stub._lock:
                    stub.connections += 1

            def log_message(self, *args):
                pass

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                with stub._lock:
                    stub.requests.append((self.command, self.path, dict(self.headers), body))
                status, answer = handler(self.command, self.path, self.headers, body)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.served += 1
                if close_after and self.served >= close_after:
                    self.send_header("Connection", "keep-alive")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _answer

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
