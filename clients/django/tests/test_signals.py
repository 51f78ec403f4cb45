import unittest

import helpers

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import override_settings

from blnode_django.exceptions import ServiceUnavailable


def revoke_ok(method, path, headers, body):
    return 200, {"user": path.split("/")[3], "not_before": 1, "already_revoked": False}


class RevokeHookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        call_command("migrate", verbosity=0)

    def setUp(self):
        self.server = helpers.StubServer(revoke_ok)
        self.addCleanup(self.server.close)
        hook = override_settings(BLNODE_URL=self.server.url, BLNODE_ADMIN_TOKEN="a", BLNODE_REVOKE_ON_PASSWORD_CHANGE=True)
        hook.enable()
        self.addCleanup(hook.disable)
        self.user = User.objects.create_user("u%d" % id(self), password="old")
        self.addCleanup(self.user.delete)

    def revoked(self):
        return [(r[1], r[3]["reason"]) for r in self.server.requests]

    def test_password_change_revokes(self):
        self.user.set_password("new")
        self.user.save()
        self.assertEqual(self.revoked(), [("/v1/users/%d/revoke" % self.user.pk, "password changed")])

    def test_deactivation_revokes(self):
        self.user.is_active = False
        self.user.save()
        self.assertEqual(self.revoked(), [("/v1/users/%d/revoke" % self.user.pk, "user deactivated")])

    def test_unusable_password_revokes(self):
        self.user.set_unusable_password()
        self.user.save()
        self.assertEqual(self.revoked(), [("/v1/users/%d/revoke" % self.user.pk, "password made unusable")])

    def test_other_saves_do_not(self):
        self.user.first_name = "x"
        self.user.save()
        # A hash upgrade (Django's check_password setter clears _password).
        self.user.password = make_password("old")
        self.user.save()
        self.assertEqual(self.revoked(), [])

    def test_off_by_default(self):
        with override_settings(BLNODE_REVOKE_ON_PASSWORD_CHANGE=False):
            self.user.set_password("new")
            self.user.save()
        self.assertEqual(self.revoked(), [])

    def test_blnode_down_fails_the_save(self):
        self.server.close()
        self.user.set_password("new")
        with self.assertRaises(ServiceUnavailable):
            self.user.save()


if __name__ == "__main__":
    unittest.main()
