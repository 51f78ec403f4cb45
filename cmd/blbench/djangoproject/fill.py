# Fills the database of blbench's django scenario. Argument: the number of
# active users to create. Standard input: one refresh token a line,
# "KIND JTI USER_ID EXP TOKEN" with KIND "blacklisted" (an outstanding row
# and its blacklisted row) or "outstanding" (an outstanding row only), as
# Simple JWT's token_blacklist app keeps them. Creates the active users
# (ids 1..N on a new database, unusable passwords) and one inactive user,
# and prints {"users": [ids], "inactive": id, "outstanding": n,
# "blacklisted": n} as JSON.
import datetime
import json
import sys

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken  # noqa: E402


def main():
    n = int(sys.argv[1])
    User = get_user_model()
    now = timezone.now()
    with transaction.atomic():
        User.objects.bulk_create([User(username="user%d" % i, password="!") for i in range(1, n + 1)])
        inactive = User.objects.create(username="inactive", password="!", is_active=False)
        users = list(User.objects.filter(is_active=True).order_by("id").values_list("id", flat=True))
        outstanding, blacklisted = [], []
        for line in sys.stdin:
            kind, jti, user, exp, token = line.split()
            outstanding.append(OutstandingToken(
                user_id=int(user), jti=jti, token=token, created_at=now,
                expires_at=datetime.datetime.fromtimestamp(int(exp), tz=datetime.timezone.utc)))
            if kind == "blacklisted":
                blacklisted.append(jti)
        OutstandingToken.objects.bulk_create(outstanding, batch_size=500)
        ids = dict(OutstandingToken.objects.values_list("jti", "id"))
        BlacklistedToken.objects.bulk_create([BlacklistedToken(token_id=ids[j]) for j in blacklisted], batch_size=500)
    print(json.dumps({
        "users": users,
        "inactive": inactive.id,
        "outstanding": OutstandingToken.objects.count(),
        "blacklisted": BlacklistedToken.objects.count(),
    }))


main()
