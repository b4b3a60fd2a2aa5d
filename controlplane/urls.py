"""Local Arthur control-plane URLs: the identity provider's endpoints, health, then the JSON API."""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_GET

from controlplane.api import api


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """The platform's unauthenticated ``HealthStatus``."""
    return JsonResponse({"message": "ok", "build_version": "local-arthur", "release_version": api.version})


urlpatterns = [
    path("", include("controlplane.identity.urls")),
    path("api/health", health, name="local_arthur_health"),
    path("api/v1/", api.urls),
]
