from django.urls import path
from rest_framework_simplejwt.views import TokenBlacklistView, TokenVerifyView

urlpatterns = [
    path("api/token/verify/", TokenVerifyView.as_view()),
    path("api/token/blacklist/", TokenBlacklistView.as_view()),
]
