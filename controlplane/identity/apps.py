from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "controlplane.identity"
    label = "identity"
    verbose_name = "Local Arthur identity provider"
    default_auto_field = "django.db.models.BigAutoField"
