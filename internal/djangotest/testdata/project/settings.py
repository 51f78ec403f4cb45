# A Django project using blnode_django as its blacklist (no token_blacklist
# app): package djangotest writes it into a temp dir and serves it with
# gunicorn. The environment variables below configure it.
import os

BASE_DIR = os.environ["DJANGOTEST_DIR"]
SECRET_KEY = os.environ["DJANGOTEST_SECRET"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "blnode_django",
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
# Fast hashing: the tests log users in many times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["blnode_django.authentication.JWTAuthentication"],
}
SIMPLE_JWT = {
    "SIGNING_KEY": SECRET_KEY,
    "ALGORITHM": "HS256",
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
BLNODE_URL = os.environ["DJANGOTEST_BLNODE_URL"]
BLNODE_ADMIN_TOKEN_FILE = os.environ["DJANGOTEST_ADMIN_TOKEN_FILE"]
BLNODE_TIMEOUT = 10
BLNODE_REVOKE_ON_PASSWORD_CHANGE = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["stderr"], "level": "ERROR"},
        "blnode_django": {"handlers": ["stderr"], "level": "INFO"},
    },
}
