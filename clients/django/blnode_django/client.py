"""A small client of blnode's native API (/v1/), on the standard library.

Each thread keeps one persistent HTTP/1.1 connection to blnode (as a
gunicorn or runserver thread serves one request at a time, a request costs
no TCP handshake after the first). A connection blnode closed while it was
idle is retried once on a fresh one: every call here is idempotent on
blnode's side (a check; a blacklist or register answers "already" the
second time).
"""

import http.client
import json
import threading
import urllib.parse


class BlnodeUnavailable(Exception):
    """blnode could not answer: connection refused, timeout, or a 5xx."""


class BlnodeError(Exception):
    """blnode refused the request (a 4xx): status, code and detail from its
    JSON error body."""

    def __init__(self, status, code, detail):
        super().__init__("blnode: %d %s: %s" % (status, code, detail))
        self.status = status
        self.code = code
        self.detail = detail


# Errors a reused keep-alive connection gives when blnode closed it while idle.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, http.client.CannotSendRequest)


class Client:
    """Calls blnode at url. admin_token is needed by the admin calls
    (blacklist_jti, revoke_user, tokens). Safe for use by many threads."""

    def __init__(self, url, admin_token="", timeout=2.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("blnode URL %r: want http:// or https://" % url)
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._admin_token = admin_token
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all = []  # every thread's connection, for close

    # The API.

    def check(self, token):
        """POST /v1/check: {"valid", "blacklisted", "code", "detail", "jti",
        "user", "token_type", "exp", ...}."""
        return self._call("POST", "/v1/check", {"token": token})

    def register_outstanding(self, token):
        """POST /v1/outstanding: registers token (verified by blnode) as
        outstanding; {"already_registered", "record"}."""
        return self._call("POST", "/v1/outstanding", {"token": token})

    def blacklist_token(self, token, reason=""):
        """POST /v1/blacklist with the token; {"already_blacklisted", "record"}."""
        body = {"token": token}
        if reason:
            body["reason"] = reason
        return self._call("POST", "/v1/blacklist", body)

    def blacklist_jti(self, jti, exp, iat=0, user="", token_type="", reason=""):
        """POST /v1/blacklist by jti (admin); {"already_blacklisted", "record"}."""
        body = {"jti": jti, "exp": int(exp)}
        for key, value in (("iat", int(iat)), ("user", user), ("token_type", token_type), ("reason", reason)):
            if value:
                body[key] = value
        return self._call("POST", "/v1/blacklist", body, admin=True)

    def revoke_user(self, user, reason="", not_before=0):
        """POST /v1/users/{user}/revoke (admin): every token of user issued
        before not_before (Unix seconds; 0 is blnode's now) is rejected."""
        body = {}
        if reason:
            body["reason"] = reason
        if not_before:
            body["not_before"] = int(not_before)
        path = "/v1/users/%s/revoke" % urllib.parse.quote(str(user), safe="")
        return self._call("POST", path, body, admin=True)

    def tokens(self, **query):
        """GET /v1/tokens (admin) with query (user, jti, blacklisted, cursor, limit)."""
        q = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        return self._call("GET", "/v1/tokens" + ("?" + q if q else ""), None, admin=True)

    def close(self):
        """Closes every thread's connection; the client stays usable."""
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            c.close()

    # The transport.

    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            c = cls(self._host, self._port, timeout=self._timeout)
            self._local.conn = c
            with self._lock:
                self._all.append(c)
        return c

    def _drop(self):
        c = getattr(self._local, "conn", None)
        if c is not None:
            self._local.conn = None
            c.close()
            with self._lock:
                if c in self._all:
                    self._all.remove(c)

    def _call(self, method, path, body, admin=False):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if admin:
            if not self._admin_token:
                raise BlnodeError(401, "admin_token_missing", "set BLNODE_ADMIN_TOKEN or BLNODE_ADMIN_TOKEN_FILE for %s" % path)
            headers["Authorization"] = "Bearer " + self._admin_token
        for attempt in (1, 2):
            conn = self._conn()
            reused = conn.sock is not None
            try:
                conn.request(method, self._prefix + path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except _STALE as e:
                self._drop()
                if reused and attempt == 1:
                    continue
                raise BlnodeUnavailable("blnode at %s: %s %s: %s" % (self.url, method, path, e or type(e).__name__)) from e
            except (OSError, http.client.HTTPException) as e:
                self._drop()
                raise BlnodeUnavailable("blnode at %s: %s %s: %s" % (self.url, method, path, e or type(e).__name__)) from e
            if resp.will_close:
                self._drop()
            break
        try:
            answer = json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            answer = None
        if resp.status >= 500:
            detail = answer.get("detail", "") if isinstance(answer, dict) else ""
            raise BlnodeUnavailable("blnode at %s: %s %s: %d %s" % (self.url, method, path, resp.status, detail))
        if not isinstance(answer, dict):
            raise BlnodeUnavailable("blnode at %s: %s %s: %d with a body that is not a JSON object" % (self.url, method, path, resp.status))
        if resp.status >= 400:
            raise BlnodeError(resp.status, answer.get("code", ""), answer.get("detail", ""))
        return answer
