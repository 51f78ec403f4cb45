# python users.py NAME...: creates each user with password "pw-NAME" and
# prints {"NAME": id, ...}.
import json
import sys

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402

print(json.dumps({n: User.objects.create_user(n, password="pw-" + n).pk for n in sys.argv[1:]}))
