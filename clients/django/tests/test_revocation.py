import time
import unittest

import helpers

from django.test import override_settings

from blnode_django import revocation
from blnode_django.authentication import rejection
from blnode_django.exceptions import ServiceUnavailable


def answers(method, path, headers, body):
    if body["token"] == "revoked":
        return 200, {"valid": False, "blacklisted": True, "code": "user_revoked", "exp": int(time.time()) + 60}
    return 200, {"valid": True, "blacklisted": False, "exp": int(time.time()) + 60}


class CheckTest(unittest.TestCase):
    def setUp(self):
        self.server = helpers.StubServer(answers)
        self.addCleanup(self.server.close)

    def test_every_request_asks_without_a_cache(self):
        with override_settings(BLNODE_URL=self.server.url):
            for _ in range(3):
                self.assertTrue(revocation.check("good")["valid"])
        self.assertEqual(len(self.server.requests), 3)

    def test_cache_answers_within_its_bound(self):
        with override_settings(BLNODE_URL=self.server.url, BLNODE_CACHE_SECONDS=60):
            for _ in range(3):
                self.assertTrue(revocation.check("good")["valid"])
                self.assertTrue(revocation.check("revoked")["blacklisted"])
        self.assertEqual(len(self.server.requests), 2)

    def test_blnode_down_fails_closed_unless_fail_open(self):
        self.server.close()
        with override_settings(BLNODE_URL=self.server.url):
            with self.assertRaises(ServiceUnavailable) as e:
                revocation.check("good")
            self.assertEqual(e.exception.status_code, 503)
            self.assertEqual(e.exception.get_codes(), {"detail": "blnode_unavailable", "code": "blnode_unavailable"})
        with override_settings(BLNODE_URL=self.server.url, BLNODE_FAIL_OPEN=True):
            self.assertIsNone(revocation.check("good"))


class RejectionTest(unittest.TestCase):
    def test_answers(self):
        cases = [
            ("valid", {"valid": True}, None),
            ("fail open", None, None),
            ("blacklisted", {"valid": False, "blacklisted": True, "code": "token_blacklisted"}, "Token is blacklisted"),
            ("user revoked", {"valid": False, "blacklisted": True, "code": "user_revoked"}, "Token is blacklisted"),
            ("invalid for blnode", {"valid": False, "blacklisted": False, "detail": "Token is expired"}, "Token is expired"),
        ]
        for name, answer, detail in cases:
            with self.subTest(name):
                err = rejection(answer)
                if detail is None:
                    self.assertIsNone(err)
                    continue
                self.assertEqual(err.status_code, 401)
                self.assertEqual(str(err.detail["detail"]), detail)
                self.assertEqual(str(err.detail["code"]), "token_not_valid")


if __name__ == "__main__":
    unittest.main()
