from django.apps import AppConfig


class DataPlaneConfig(AppConfig):
    name = "dataplane"
    label = "dataplane"
    verbose_name = "Local Arthur data plane"
    default_auto_field = "django.db.models.BigAutoField"
