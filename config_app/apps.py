from django.apps import AppConfig


class ConfigAppConfig(AppConfig):
    name = "config_app"
    verbose_name = "Drift configuration"

    def ready(self) -> None:
        from driftsite import checks  # noqa: F401  (registers the settings checks)
