from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Dashboard sign-in"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import backends  # noqa: F401 (connects the user memo's signal receivers)
