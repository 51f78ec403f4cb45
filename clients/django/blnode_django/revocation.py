"""What authentication and the views ask of blnode, with the settings'
policy applied: the cache, fail closed (503) or open, and logging by jti
(never the raw token)."""

import logging

from . import conf
from .client import BlnodeError, BlnodeUnavailable
from .exceptions import ServiceUnavailable

log = logging.getLogger("blnode_django")


def check(raw_token):
    """blnode's answer for raw_token ({"valid", "blacklisted", "code",
    "detail", ...}), from the cache when BLNODE_CACHE_SECONDS allows. When
    blnode cannot answer: None under BLNODE_FAIL_OPEN (the caller lets the
    token through), else ServiceUnavailable."""
    cache = conf.cache()
    if cache is not None:
        answer = cache.get(raw_token)
        if answer is not None:
            return answer
    try:
        answer = conf.client().check(raw_token)
    except (BlnodeUnavailable, BlnodeError) as e:
        return _unavailable("check", e)
    if cache is not None:
        cache.put(raw_token, answer)
    return answer


def register(raw_refresh):
    """Registers a refresh token blnode should know as outstanding."""
    try:
        conf.client().register_outstanding(raw_refresh)
    except BlnodeUnavailable as e:
        _unavailable("register outstanding", e)
    except BlnodeError as e:
        # blnode verifies the token itself: a refusal means its keys or
        # rules differ from Simple JWT's here, which is a misconfiguration.
        log.error("blnode refused to register a token Simple JWT minted: %s", e)
        raise ServiceUnavailable() from e


def blacklist(raw_refresh, reason, fail_open):
    """Blacklists raw_refresh in blnode. True when this call blacklisted it,
    False when it already was (another request won), None when blnode
    cannot answer and fail_open lets the caller go on."""
    try:
        answer = conf.client().blacklist_token(raw_refresh, reason=reason)
    except BlnodeUnavailable as e:
        if fail_open:
            _unavailable("blacklist", e)
            return None
        log.error("blnode could not blacklist a token: %s", e)
        raise ServiceUnavailable() from e
    except BlnodeError as e:
        log.error("blnode refused to blacklist a token Simple JWT accepted: %s", e)
        raise ServiceUnavailable() from e
    return not answer.get("already_blacklisted", False)


def _unavailable(what, err):
    if conf.config().fail_open:
        log.warning("blnode could not %s; BLNODE_FAIL_OPEN lets the token through unchecked: %s", what, err)
        return None
    log.error("blnode could not %s; failing closed (503): %s", what, err)
    raise ServiceUnavailable() from err
