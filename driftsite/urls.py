"""Routes: the Django admin for configuration, and the read-only monitoring API."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("monitoring_api.urls")),
]
