"""Local Arthur control-plane URLs: the identity provider's endpoints, then the JSON API."""

from django.urls import include, path

from controlplane.api import api

urlpatterns = [
    path("", include("controlplane.identity.urls")),
    path("api/v1/", api.urls),
]
