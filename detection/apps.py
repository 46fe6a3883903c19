from django.apps import AppConfig


class DetectionConfig(AppConfig):
    """Django app only for the detection service's management commands.

    ``detection.core`` is pure Python and never imports Django.
    """

    name = "detection"
    verbose_name = "Detection"
