from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "controlplane.identity"
    label = "identity"
    verbose_name = "Local Arthur identity provider"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # authlib creates its loggers when its modules are imported: import the provider's (and the
        # dashboard's client integration, which runs in this process too) before masking them.
        import authlib.integrations.django_client  # noqa: F401

        from controlplane.identity import redaction, server  # noqa: F401

        redaction.install()
