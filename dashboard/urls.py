"""Root URLs. Local Arthur (control plane + data plane) is mounted only when ARTHUR_EMBEDDED is on."""

import os

from django.conf import settings
from django.urls import include, path

from dashboard import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/", include("accounts.urls")),
    path("", include("tasks_ui.urls")),
]

if settings.ARTHUR_EMBEDDED:
    urlpatterns += [
        path("", include("controlplane.urls")),
        path("", include("dataplane.urls")),
    ]

if os.environ.get("BENCH_CEILING") == "1":
    # `make bench` only: its ceiling, a few bytes behind the same middleware and server.
    from bench.views import ceiling

    urlpatterns.append(path("bench/ceiling", ceiling, name="bench_ceiling"))
