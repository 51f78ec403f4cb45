from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView


class Me(APIView):
    """The protected view: who the access token belongs to."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"id": request.user.pk, "username": request.user.username})


urlpatterns = [path("api/me/", Me.as_view())]
