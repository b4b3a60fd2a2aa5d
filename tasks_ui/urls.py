"""Dashboard pages."""

from django.urls import converters, path, register_converter

from tasks_ui import change_views, views


class UUIDText(converters.UUIDConverter):
    """A UUID in the path, handed to the view as text (Arthur ids travel as strings)."""

    def to_python(self, value: str) -> str:
        return value.lower()


register_converter(UUIDText, "arthur_id")

app_name = "tasks_ui"
_TASK = "projects/<arthur_id:project_id>/tasks/<arthur_id:model_id>"
urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<arthur_id:project_id>/", views.project_detail, name="project_detail"),
    path("projects/<arthur_id:project_id>/tasks/<arthur_id:model_id>/", views.task_detail, name="task_detail"),
    path(
        "projects/<arthur_id:project_id>/tasks/<arthur_id:model_id>/key",
        views.validation_key_reveal,
        name="validation_key",
    ),
    path("jobs/mine", views.my_jobs, name="my_jobs"),
    # Changes (issue 8): each a POST form, most starting one job.
    path("projects/<arthur_id:project_id>/models", change_views.project_task_models, name="project_task_models"),
    path("projects/<arthur_id:project_id>/tasks/new", change_views.task_create, name="task_create"),
    path("projects/<arthur_id:project_id>/tasks/link", change_views.task_link, name="task_link"),
    path(f"{_TASK}/rules/new", change_views.rule_add, name="rule_add"),
    path(f"{_TASK}/rules/review", change_views.rule_review, name="rule_review"),
    path(f"{_TASK}/rules/discard", change_views.rule_draft_discard, name="rule_draft_discard"),
    path(f"{_TASK}/rules/new/<int:index>/remove", change_views.rule_draft_remove_new, name="rule_draft_remove_new"),
    path(f"{_TASK}/rules/draft", change_views.rule_draft_toggle, name="rule_draft_toggle"),
    path(f"{_TASK}/sync", change_views.task_sync, name="task_sync"),
    path(f"{_TASK}/regenerate-key", change_views.task_regenerate_key, name="task_regenerate_key"),
    path(f"{_TASK}/delete", change_views.task_delete, name="task_delete"),
    path(f"{_TASK}/connection", change_views.connection_info_edit, name="connection_info_edit"),
    path(f"{_TASK}/connection/delete", change_views.connection_info_delete, name="connection_info_delete"),
    path(f"{_TASK}/try", change_views.try_it, name="try_it"),
    path("jobs/<arthur_id:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<arthur_id:job_id>/poll", views.job_poll, name="job_poll"),
]
