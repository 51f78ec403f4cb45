# Under settings_legacy: fills token_blacklist's tables as a project using
# Simple JWT's blacklist would have (three refresh tokens of one user, the
# last blacklisted, and an expired row) and prints them as JSON.
import datetime
import json

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken  # noqa: E402
from rest_framework_simplejwt.tokens import RefreshToken  # noqa: E402

user = User.objects.create_user("legacy", password="pw-legacy")
tokens = [RefreshToken.for_user(user) for _ in range(3)]
tokens[2].blacklist()
OutstandingToken.objects.create(
    user=user, jti="0" * 32, token="expired", expires_at=timezone.now() - datetime.timedelta(hours=1)
)
print(json.dumps({"user": user.pk, "tokens": [str(t) for t in tokens], "blacklisted": tokens[2]["jti"]}))
