# A minimal Django project serving Django REST framework Simple JWT's verify
# and blacklist views with its token_blacklist app: the original blnode
# re-implements. Package original writes it into a directory and runs it;
# the environment variables below configure it. Lean on purpose (only
# CommonMiddleware, for APPEND_SLASH; no sessions, no admin), which favours
# the original in a benchmark.
import os

BASE_DIR = os.environ["BLNODE_ORIGINAL_DIR"]
SECRET_KEY = os.environ["BLNODE_ORIGINAL_SECRET"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(BASE_DIR, "db.sqlite3"),
        "OPTIONS": {"timeout": 30},
    }
}
SIMPLE_JWT = {
    "SIGNING_KEY": SECRET_KEY,
    "ALGORITHM": "HS256",
    "LEEWAY": int(os.environ.get("BLNODE_ORIGINAL_LEEWAY", "0")),
    # What makes the verify view consult the blacklist (as blnode's does).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
# Errors (a 500's traceback) to stderr; nothing per request.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": True,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
