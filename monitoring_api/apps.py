from django.apps import AppConfig


class MonitoringApiConfig(AppConfig):
    name = "monitoring_api"
    verbose_name = "Monitoring API"
