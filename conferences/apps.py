from django.apps import AppConfig


class ConferencesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "conferences"

    def ready(self) -> None:
        from conferences import signals  # models are ready only now

        signals.connect()
