# The same project before its migration: Simple JWT's token_blacklist app
# holds the blacklist, in its own database. blnode_import reads it.
import os

from settings import *  # noqa: F401,F403

INSTALLED_APPS = INSTALLED_APPS + ["rest_framework_simplejwt.token_blacklist"]  # noqa: F405
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(BASE_DIR, "legacy.sqlite3"),  # noqa: F405
    }
}
