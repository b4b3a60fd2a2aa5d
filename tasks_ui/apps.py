from django.apps import AppConfig


class TasksUiConfig(AppConfig):
    name = "tasks_ui"
    verbose_name = "Tasks dashboard"
    default_auto_field = "django.db.models.BigAutoField"
