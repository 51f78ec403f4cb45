"""manage.py blnode_import: push Simple JWT's token_blacklist tables to blnode.

Every unexpired OutstandingToken row is registered in blnode (POST
/v1/outstanding with its token; blnode verifies it), every unexpired
BlacklistedToken row is blacklisted by jti (admin). Running it again changes
nothing: blnode answers "already". Expired rows are skipped (blnode would
flush them). Progress goes to stdout every --progress rows; a row blnode
refuses is named by its jti on stderr, and the command then exits 1.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import UntypedToken

from ... import conf
from ...client import BlnodeError, BlnodeUnavailable

APP = "rest_framework_simplejwt.token_blacklist"


class Command(BaseCommand):
    help = "Push rest_framework_simplejwt.token_blacklist's outstanding and blacklisted tokens to blnode (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--progress", type=int, default=500, help="report progress every N rows (default 500)")
        parser.add_argument("--reason", default="imported from token_blacklist", help="reason kept with each blacklisted entry")

    def handle(self, *args, **opts):
        if APP not in settings.INSTALLED_APPS:
            raise CommandError("%s is not in INSTALLED_APPS: there are no tables to import" % APP)
        if opts["progress"] < 1:
            raise CommandError("--progress %d: want 1 or more" % opts["progress"])
        from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

        client = conf.client()
        now = timezone.now()
        rows = (
            OutstandingToken.objects.filter(expires_at__gt=now)
            .order_by("id")
            .values_list("jti", "token", "user_id", "created_at", "expires_at", "blacklistedtoken__id")
        )
        total = rows.count()
        skipped = OutstandingToken.objects.filter(expires_at__lte=now).count()
        self.stdout.write("blnode_import: %d unexpired rows to push to %s (%d expired rows skipped)" % (total, client.url, skipped))
        counts = {"outstanding new": 0, "outstanding already": 0, "blacklisted new": 0, "blacklisted already": 0, "refused": 0}
        done = 0
        for jti, token, user_id, created_at, expires_at, blacklisted_id in rows.iterator():
            try:
                if blacklisted_id is not None:
                    claims = _claims(token)
                    answer = client.blacklist_jti(
                        jti,
                        exp=int(expires_at.timestamp()),
                        iat=int(claims.get("iat") or (created_at.timestamp() if created_at else 0)),
                        user=str(claims.get(api_settings.USER_ID_CLAIM, user_id if user_id is not None else "") or ""),
                        token_type=str(claims.get(api_settings.TOKEN_TYPE_CLAIM) or "refresh"),
                        reason=opts["reason"],
                    )
                    counts["blacklisted already" if answer.get("already_blacklisted") else "blacklisted new"] += 1
                else:
                    answer = client.register_outstanding(token)
                    counts["outstanding already" if answer.get("already_registered") else "outstanding new"] += 1
            except BlnodeUnavailable as e:
                raise CommandError("blnode could not answer after %d of %d rows (run again to go on): %s" % (done, total, e)) from e
            except BlnodeError as e:
                counts["refused"] += 1
                self.stderr.write("blnode_import: jti %s refused: %s %s" % (jti, e.code, e.detail))
            done += 1
            if done % opts["progress"] == 0 and done < total:
                self.stdout.write("blnode_import: %d/%d %s" % (done, total, _summary(counts)))
        self.stdout.write("blnode_import: %d/%d done: %s" % (done, total, _summary(counts)))
        if counts["refused"]:
            raise CommandError("%d rows refused by blnode (see above)" % counts["refused"])


def _claims(token):
    """The token's claims, unverified (its signature was checked when it was
    issued), or {} when it cannot be decoded."""
    try:
        return UntypedToken(token, verify=False).payload
    except Exception:
        return {}


def _summary(counts):
    return ", ".join("%s %d" % kv for kv in counts.items())
