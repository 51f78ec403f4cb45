import unittest

import helpers  # noqa: F401

from blnode_django.cache import CheckCache


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class CheckCacheTest(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.cache = CheckCache(5, 3, clock=self.clock, wall=self.clock)

    def test_valid_answer_kept_at_most_max_age(self):
        self.cache.put("t", {"valid": True, "exp": 2000})
        self.clock.now += 4.9
        self.assertIsNotNone(self.cache.get("t"))
        self.clock.now += 0.2
        self.assertIsNone(self.cache.get("t"))

    def test_valid_answer_never_past_exp(self):
        self.cache.put("t", {"valid": True, "exp": 1002})
        self.clock.now += 2
        self.assertIsNone(self.cache.get("t"))

    def test_revoked_answer_kept_until_exp(self):
        self.cache.put("t", {"valid": False, "blacklisted": True, "exp": 1100})
        self.clock.now += 99
        self.assertTrue(self.cache.get("t")["blacklisted"])
        self.clock.now += 1
        self.assertIsNone(self.cache.get("t"))

    def test_invalid_answer_not_kept(self):
        self.cache.put("t", {"valid": False, "blacklisted": False, "code": "token_not_valid", "exp": 2000})
        self.assertIsNone(self.cache.get("t"))

    def test_bounded_least_recently_used_first(self):
        for t in ("a", "b", "c"):
            self.cache.put(t, {"valid": True, "exp": 2000})
        self.cache.get("a")
        self.cache.put("d", {"valid": True, "exp": 2000})
        self.assertEqual(len(self.cache), 3)
        self.assertIsNone(self.cache.get("b"))
        self.assertIsNotNone(self.cache.get("a"))

    def test_holds_no_token(self):
        self.cache.put("secret-token", {"valid": True, "exp": 2000})
        self.assertNotIn("secret-token", repr(self.cache._entries))


if __name__ == "__main__":
    unittest.main()
