"""The data plane's engine endpoints, served under ``/engine/`` (the engine's ``api_host``)."""

from django.urls import path

from dataplane import views

app_name = "dataplane"

urlpatterns = [
    path("engine/api/v2/tasks/<uuid:task_id>/validate_prompt", views.validate_prompt, name="validate_prompt"),
    path("engine/api/v2/tasks/<uuid:task_id>/validate_response", views.validate_response, name="validate_response"),
    path(
        "engine/api/v2/tasks/<uuid:task_id>/validate_response/<uuid:inference_id>",
        views.validate_response,
        name="validate_response_inference",
    ),
]
