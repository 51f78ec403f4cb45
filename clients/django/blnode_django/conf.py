"""The settings of blnode_django, read from django.conf.settings.

BLNODE_URL                        blnode's base URL (required), http:// or https://
BLNODE_ADMIN_TOKEN                admin credential for the admin writes (revoke a
                                  user, blacklist by jti, import); or
BLNODE_ADMIN_TOKEN_FILE           a file holding it (read when the client is made)
BLNODE_TIMEOUT                    seconds per request to blnode (default 2.0)
BLNODE_FAIL_OPEN                  let tokens through when blnode cannot answer (default False)
BLNODE_CACHE_SECONDS              reuse a "valid" answer this long (default 0: ask every time)
BLNODE_CACHE_MAX_ENTRIES          bound of that cache per process (default 10000)
BLNODE_REVOKE_ON_PASSWORD_CHANGE  revoke a user in blnode when their password
                                  changes or they are deactivated (default False)
"""

import dataclasses
import threading
import urllib.parse

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .cache import CheckCache
from .client import Client


@dataclasses.dataclass(frozen=True)
class Config:
    url: str
    admin_token: str
    timeout: float
    fail_open: bool
    cache_seconds: float
    cache_max_entries: int
    revoke_on_password_change: bool


def load():
    """Reads and validates the settings; raises ImproperlyConfigured naming
    the setting and its value when one is wrong."""
    url = getattr(settings, "BLNODE_URL", "") or ""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(
            "BLNODE_URL %r: want blnode's base URL, http:// or https://, e.g. http://127.0.0.1:8080" % url
        )
    token = getattr(settings, "BLNODE_ADMIN_TOKEN", "") or ""
    token_file = getattr(settings, "BLNODE_ADMIN_TOKEN_FILE", "") or ""
    if token and token_file:
        raise ImproperlyConfigured("give BLNODE_ADMIN_TOKEN or BLNODE_ADMIN_TOKEN_FILE, not both")
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as e:
            raise ImproperlyConfigured("BLNODE_ADMIN_TOKEN_FILE %r: %s" % (token_file, e)) from e
        if not token:
            raise ImproperlyConfigured("BLNODE_ADMIN_TOKEN_FILE %r is empty" % token_file)
    timeout = _number("BLNODE_TIMEOUT", 2.0)
    if timeout <= 0:
        raise ImproperlyConfigured("BLNODE_TIMEOUT %r: want a number of seconds above 0" % timeout)
    cache_seconds = _number("BLNODE_CACHE_SECONDS", 0.0)
    if cache_seconds < 0:
        raise ImproperlyConfigured("BLNODE_CACHE_SECONDS %r: want 0 (no cache) or more" % cache_seconds)
    max_entries = getattr(settings, "BLNODE_CACHE_MAX_ENTRIES", 10000)
    if not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1:
        raise ImproperlyConfigured("BLNODE_CACHE_MAX_ENTRIES %r: want an integer of 1 or more" % (max_entries,))
    return Config(
        url=url.rstrip("/"),
        admin_token=token,
        timeout=timeout,
        fail_open=bool(getattr(settings, "BLNODE_FAIL_OPEN", False)),
        cache_seconds=cache_seconds,
        cache_max_entries=max_entries,
        revoke_on_password_change=bool(getattr(settings, "BLNODE_REVOKE_ON_PASSWORD_CHANGE", False)),
    )


def _number(name, default):
    value = getattr(settings, name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ImproperlyConfigured("%s %r: want a number" % (name, value))
    return float(value)


class _State:
    """The process's config, client and cache, made on first use and
    dropped when a BLNODE_ setting changes (override_settings in tests)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._current = None

    def get(self):
        current = self._current
        if current is None:
            with self._lock:
                if self._current is None:
                    cfg = load()
                    client = Client(cfg.url, admin_token=cfg.admin_token, timeout=cfg.timeout)
                    cache = CheckCache(cfg.cache_seconds, cfg.cache_max_entries) if cfg.cache_seconds > 0 else None
                    self._current = (cfg, client, cache)
                current = self._current
        return current

    def reset(self, **kwargs):
        if kwargs.get("setting", "BLNODE_").startswith("BLNODE_"):
            with self._lock:
                old, self._current = self._current, None
            if old is not None:
                old[1].close()


_state = _State()
setting_changed.connect(_state.reset, dispatch_uid="blnode_django.conf.reset")


def config():
    """The current Config."""
    return _state.get()[0]


def client():
    """The process's Client (one persistent connection per thread)."""
    return _state.get()[1]


def cache():
    """The process's CheckCache, or None when BLNODE_CACHE_SECONDS is 0."""
    return _state.get()[2]
