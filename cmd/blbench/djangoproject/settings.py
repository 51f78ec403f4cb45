# The Django project of blbench's django scenario: one protected view
# (GET /api/me/, IsAuthenticated) behind the authentication class that
# BLBENCH_DJANGO_AUTH names, with Simple JWT's token_blacklist app installed
# and its tables filled (fill.py). Every contender runs these settings and
# the same database under the same gunicorn command; only the
# authentication class and blnode_django's BLNODE_ settings differ. Lean on
# purpose, like internal/original's project (only CommonMiddleware, no
# sessions, SQLite).
import os

BASE_DIR = os.environ["BLBENCH_DJANGO_DIR"]
SECRET_KEY = os.environ["BLBENCH_DJANGO_SECRET"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
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
AUTHENTICATION = {
    "simplejwt": "rest_framework_simplejwt.authentication.JWTAuthentication",
    "blnode": "blnode_django.authentication.JWTAuthentication",
}[os.environ["BLBENCH_DJANGO_AUTH"]]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [AUTHENTICATION],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SIMPLE_JWT = {
    "SIGNING_KEY": SECRET_KEY,
    "ALGORITHM": "HS256",
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
# Read by blnode_django only (the blnode contenders).
BLNODE_URL = os.environ.get("BLBENCH_BLNODE_URL", "")
BLNODE_TIMEOUT = 10
BLNODE_CACHE_SECONDS = float(os.environ.get("BLBENCH_BLNODE_CACHE_SECONDS", "0"))
# Errors (a 500's traceback) to stderr; nothing per request.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": True,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["stderr"], "level": "ERROR"},
        "blnode_django": {"handlers": ["stderr"], "level": "WARNING"},
    },
}
