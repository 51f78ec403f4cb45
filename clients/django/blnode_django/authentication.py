"""Simple JWT's authentication classes that also ask blnode.

JWTAuthentication is a drop-in for
rest_framework_simplejwt.authentication.JWTAuthentication: a token Simple
JWT accepts is then checked by blnode (POST /v1/check with the raw token),
which rejects it when its jti is blacklisted, its user was revoked after it
was issued, or its refresh family was revoked. A rejected token is answered
401 {"detail": "Token is blacklisted", "code": "token_not_valid"}; when
blnode cannot answer, 503 (blnode_django.exceptions.ServiceUnavailable)
unless BLNODE_FAIL_OPEN.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken

from . import revocation


def rejection(answer):
    """The InvalidToken for a check answer blnode did not find valid, or
    None when it did."""
    if answer is None or answer.get("valid"):
        return None
    if answer.get("blacklisted"):
        return InvalidToken(_("Token is blacklisted"))
    # Simple JWT accepted what blnode refuses (its keys, leeway or rules
    # are stricter): fail closed, with blnode's reason.
    return InvalidToken(answer.get("detail") or _("Token is invalid or expired"))


class _BlnodeMixin:
    def get_validated_token(self, raw_token):
        validated = super().get_validated_token(raw_token)
        if isinstance(raw_token, bytes):
            raw_token = raw_token.decode("utf-8")
        err = rejection(revocation.check(raw_token))
        if err is not None:
            raise err
        return validated


class JWTAuthentication(_BlnodeMixin, authentication.JWTAuthentication):
    """Simple JWT's JWTAuthentication, also rejecting tokens blnode reports
    revoked."""


class JWTStatelessUserAuthentication(_BlnodeMixin, authentication.JWTStatelessUserAuthentication):
    """Simple JWT's JWTStatelessUserAuthentication, also rejecting tokens
    blnode reports revoked."""


JWTTokenUserAuthentication = JWTStatelessUserAuthentication
