from django.apps import AppConfig


class ControlPlaneConfig(AppConfig):
    name = "controlplane"
    label = "controlplane"
    verbose_name = "Local Arthur control plane"
    default_auto_field = "django.db.models.BigAutoField"
