"""The opt-in hook (BLNODE_REVOKE_ON_PASSWORD_CHANGE = True): when a user's
password changes (set_password, or set_unusable_password; not the hash
upgrade Django makes at login), or an active user is deactivated, every token issued to
them before that second is revoked in blnode (POST /v1/users/{id}/revoke,
admin), on every node of the fleet.

The revocation is made in post_save, inside the save's transaction: when
blnode cannot record it, the save fails with 503 (ServiceUnavailable) and,
under ATOMIC_REQUESTS or an atomic block, is rolled back; under
BLNODE_FAIL_OPEN it is logged and the save goes on.
"""

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import is_password_usable
from django.db.models.signals import post_save, pre_save
from rest_framework_simplejwt.settings import api_settings

from . import conf
from .client import BlnodeError, BlnodeUnavailable
from .exceptions import ServiceUnavailable

log = logging.getLogger("blnode_django")

_PENDING = "_blnode_revoke_reason"


def connect():
    """Connects the hook to AUTH_USER_MODEL's saves (apps.ready)."""
    user_model = get_user_model()
    pre_save.connect(_before_save, sender=user_model, dispatch_uid="blnode_django.before_save")
    post_save.connect(_after_save, sender=user_model, dispatch_uid="blnode_django.after_save")


def _before_save(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None or not conf.config().revoke_on_password_change:
        return
    fields = ["password"]
    if hasattr(instance, "is_active"):
        fields.append("is_active")
    old = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
    if old is None:
        return
    reason = None
    if old["password"] != instance.password:
        # As Django's own password_changed: set_password leaves the raw
        # password in _password; a hash upgrade at login clears it, and is
        # no change. A password made unusable is one.
        if getattr(instance, "_password", None) is not None:
            reason = "password changed"
        elif not is_password_usable(instance.password):
            reason = "password made unusable"
    elif "is_active" in old and old["is_active"] and not instance.is_active:
        reason = "user deactivated"
    setattr(instance, _PENDING, reason)


def _after_save(sender, instance, created=False, raw=False, **kwargs):
    reason = getattr(instance, _PENDING, None)
    if not reason:
        return
    setattr(instance, _PENDING, None)
    user_id = getattr(instance, api_settings.USER_ID_FIELD)
    try:
        answer = conf.client().revoke_user(str(user_id), reason=reason)
    except (BlnodeUnavailable, BlnodeError) as e:
        if conf.config().fail_open:
            log.warning("blnode could not revoke user %s (%s); BLNODE_FAIL_OPEN: the save goes on: %s", user_id, reason, e)
            return
        log.error("blnode could not revoke user %s (%s): %s", user_id, reason, e)
        raise ServiceUnavailable() from e
    log.info("revoked user %s in blnode (%s), not before %s", user_id, reason, answer.get("not_before"))
