# python password.py NAME: changes the user's password (a save blnode_django's
# hook sees).
import sys

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402

user = User.objects.get(username=sys.argv[1])
user.set_password("changed-" + sys.argv[1])
user.save()
