import os
import tempfile
import unittest

import helpers  # noqa: F401

from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from blnode_django import conf


class LoadTest(unittest.TestCase):
    def test_defaults(self):
        cfg = conf.load()
        self.assertEqual((cfg.timeout, cfg.fail_open, cfg.cache_seconds, cfg.revoke_on_password_change), (2.0, False, 0.0, False))

    def test_bad_values_named(self):
        cases = {
            "BLNODE_URL": "ftp://x",
            "BLNODE_TIMEOUT": 0,
            "BLNODE_CACHE_SECONDS": -1,
            "BLNODE_CACHE_MAX_ENTRIES": 0,
        }
        for name, value in cases.items():
            with self.subTest(name), override_settings(**{name: value}):
                with self.assertRaisesRegex(ImproperlyConfigured, name):
                    conf.load()

    def test_admin_token_file(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("from-file\n")
        self.addCleanup(os.unlink, f.name)
        with override_settings(BLNODE_ADMIN_TOKEN_FILE=f.name):
            self.assertEqual(conf.load().admin_token, "from-file")
        with override_settings(BLNODE_ADMIN_TOKEN_FILE=f.name, BLNODE_ADMIN_TOKEN="x"):
            with self.assertRaisesRegex(ImproperlyConfigured, "not both"):
                conf.load()

    def test_settings_change_makes_a_new_client(self):
        first = conf.client()
        with override_settings(BLNODE_URL="http://127.0.0.1:10"):
            self.assertEqual(conf.client().url, "http://127.0.0.1:10")
        self.assertIsNot(conf.client(), first)


if __name__ == "__main__":
    unittest.main()
