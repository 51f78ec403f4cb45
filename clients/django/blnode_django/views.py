"""Drop-ins for Simple JWT's views of the same names, with blnode as the
blacklist. Each runs Simple JWT's serializer first (the one its settings
name, so a project's custom serializer keeps working), so a request Simple
JWT refuses gets Simple JWT's answer; blnode's part comes after:

- TokenObtainPairView registers the new refresh token in blnode as
  outstanding (POST /v1/outstanding).
- TokenRefreshView asks blnode whether the refresh token is revoked; with
  ROTATE_REFRESH_TOKENS and BLACKLIST_AFTER_ROTATION it blacklists it in
  blnode, and of concurrent refreshes of one token only the request whose
  blacklist blnode recorded first gets new tokens (the others: 401 "Token is
  blacklisted"); the new refresh token is registered.
- TokenBlacklistView blacklists the refresh token in blnode (a second time:
  401 "Token is blacklisted", as Simple JWT with its blacklist app).
- TokenVerifyView rejects a token blnode reports revoked with 400
  {"non_field_errors": ["Token is blacklisted"]}, as Simple JWT's.

Status codes and bodies are Simple JWT's; 503 {"detail", "code":
"blnode_unavailable"} when blnode cannot answer (see README.md for what
BLNODE_FAIL_OPEN changes).
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings as drf_settings
from rest_framework_simplejwt import views
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings

from . import conf, revocation
from .authentication import rejection


class _BlnodeView:
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as e:
            raise InvalidToken(e.args[0])
        data = self.blnode(request, serializer.validated_data)
        return Response(data, status=status.HTTP_200_OK)

    def blnode(self, request, data):
        """blnode's part, once Simple JWT's serializer accepted the request;
        returns the body to answer."""
        raise NotImplementedError


class TokenObtainPairView(_BlnodeView, views.TokenObtainPairView):
    """Simple JWT's TokenObtainPairView; the refresh token is registered in
    blnode."""

    def blnode(self, request, data):
        if "refresh" in data:
            revocation.register(data["refresh"])
        return data


class TokenRefreshView(_BlnodeView, views.TokenRefreshView):
    """Simple JWT's TokenRefreshView, with the refresh token checked in blnode
    and, under BLACKLIST_AFTER_ROTATION, blacklisted there: exactly one of
    concurrent refreshes of a token succeeds."""

    def blnode(self, request, data):
        raw = request.data.get("refresh")
        err = rejection(revocation.check(raw))
        if err is not None:
            raise err
        if api_settings.ROTATE_REFRESH_TOKENS and api_settings.BLACKLIST_AFTER_ROTATION:
            won = revocation.blacklist(raw, "rotated", fail_open=conf.config().fail_open)
            if won is False:
                raise InvalidToken(_("Token is blacklisted"))
        if "refresh" in data:
            revocation.register(data["refresh"])
        return data


class TokenBlacklistView(_BlnodeView, views.TokenBlacklistView):
    """Simple JWT's TokenBlacklistView, writing to blnode. It never fails
    open: a logout blnode did not record is answered 503."""

    def blnode(self, request, data):
        if revocation.blacklist(request.data.get("refresh"), "logout", fail_open=False) is False:
            raise InvalidToken(_("Token is blacklisted"))
        return data


class TokenVerifyView(_BlnodeView, views.TokenVerifyView):
    """Simple JWT's TokenVerifyView, consulting blnode."""

    def blnode(self, request, data):
        answer = revocation.check(request.data.get("token"))
        if answer is not None and not answer.get("valid"):
            if answer.get("blacklisted"):
                raise ValidationError({drf_settings.NON_FIELD_ERRORS_KEY: [_("Token is blacklisted")]})
            raise rejection(answer)
        return data


token_obtain_pair = TokenObtainPairView.as_view()
token_refresh = TokenRefreshView.as_view()
token_blacklist = TokenBlacklistView.as_view()
token_verify = TokenVerifyView.as_view()
