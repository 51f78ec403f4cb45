from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from blnode_django import views


class Me(APIView):
    """A protected view: who the access token belongs to."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"id": request.user.pk, "username": request.user.username})


urlpatterns = [
    path("api/token/", views.TokenObtainPairView.as_view()),
    path("api/token/refresh/", views.TokenRefreshView.as_view()),
    path("api/token/verify/", views.TokenVerifyView.as_view()),
    path("api/token/blacklist/", views.TokenBlacklistView.as_view()),
    path("api/me/", Me.as_view()),
]
