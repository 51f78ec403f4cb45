"""The errors blnode_django answers beyond Simple JWT's own."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework_simplejwt.exceptions import DetailDictMixin


class ServiceUnavailable(DetailDictMixin, exceptions.APIException):
    """503: blnode could not say whether the token is revoked (or could not
    record a write), and BLNODE_FAIL_OPEN does not let the request through.
    Body: {"detail": "...", "code": "blnode_unavailable"}."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The token revocation service is unavailable; try again later.")
    default_code = "blnode_unavailable"
