import socket
import unittest

import helpers

from blnode_django.client import BlnodeError, BlnodeUnavailable, Client


def check_ok(method, path, headers, body):
    if path == "/v1/check":
        return 200, {"valid": True, "blacklisted": False, "jti": "j1"}
    if path.startswith("/v1/users/"):
        if headers.get("Authorization") != "Bearer admin-secret":
            return 401, {"code": "unauthorized", "detail": "admin token required"}
        return 200, {"user": path.split("/")[3], "not_before": 1, "already_revoked": False}
    if path == "/v1/blacklist":
        return 401, {"code": "token_not_valid", "detail": "Token is expired"}
    return 503, {"code": "unavailable", "detail": "store"}


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.server = helpers.StubServer(check_ok)
        self.addCleanup(self.server.close)

    def test_one_connection_for_many_calls(self):
        c = Client(self.server.url)
        self.addCleanup(c.close)
        for _ in range(5):
            self.assertTrue(c.check("t")["valid"])
        self.assertEqual(self.server.connections, 1)
        self.assertEqual([r[3] for r in self.server.requests], [{"token": "t"}] * 5)

    def test_admin_token_sent_and_required(self):
        c = Client(self.server.url, admin_token="admin-secret")
        self.addCleanup(c.close)
        self.assertEqual(c.revoke_user("a/b")["user"], "a%2Fb")
        anonymous = Client(self.server.url)
        with self.assertRaises(BlnodeError) as e:
            anonymous.revoke_user("7")
        self.assertEqual(e.exception.code, "admin_token_missing")

    def test_4xx_is_an_error_with_blnodes_code(self):
        c = Client(self.server.url)
        self.addCleanup(c.close)
        with self.assertRaises(BlnodeError) as e:
            c.blacklist_token("t")
        self.assertEqual((e.exception.status, e.exception.code), (401, "token_not_valid"))

    def test_5xx_is_unavailable(self):
        c = Client(self.server.url)
        self.addCleanup(c.close)
        with self.assertRaises(BlnodeUnavailable):
            c.register_outstanding("t")


class ReconnectTest(unittest.TestCase):
    def test_connection_closed_by_server_is_replaced(self):
        server = helpers.StubServer(check_ok, close_after=1)
        self.addCleanup(server.close)
        c = Client(server.url)
        self.addCleanup(c.close)
        for _ in range(3):
            self.assertTrue(c.check("t")["valid"])
        self.assertEqual(server.connections, 3)

    def test_refused_is_unavailable(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens on port now
        c = Client("http://127.0.0.1:%d" % port, timeout=2)
        with self.assertRaises(BlnodeUnavailable):
            c.check("t")

    def test_timeout_is_unavailable(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)  # accepts connections, never answers
        self.addCleanup(s.close)
        c = Client("http://127.0.0.1:%d" % s.getsockname()[1], timeout=0.2)
        with self.assertRaises(BlnodeUnavailable):
            c.check("t")


if __name__ == "__main__":
    unittest.main()
