"""Routes of the read-only monitoring API, its OpenAPI schema, the dashboard and /metrics.

Trailing slashes: every route answers both with and without one (``/drift/status`` and
``/drift/status/``), with the same response and no redirect (the patterns end in ``(?:/)?$``,
so CommonMiddleware's APPEND_SLASH never has to step in). The OpenAPI schema lists the API
paths without the slash.
"""

from django.http import HttpResponse
from django.urls import re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from monitoring_api import apis, dashboard
from monitoring_api.metrics import metrics_view

SLASH = r"(?:/)?$"


class SwaggerUiView(SpectacularSwaggerView):
    """Swagger UI; OPTIONS answers with the allowed methods and no body.

    DRF's OPTIONS renders metadata with the view's renderer, which for this HTML page is a
    template renderer without a template: a 500. An HTML page has no metadata to describe.
    """

    def options(self, request, *args, **kwargs):
        response = HttpResponse(status=200)
        response["Allow"] = ", ".join(self.allowed_methods)
        response["Content-Length"] = "0"
        return response

urlpatterns = [
    re_path(r"^health" + SLASH, apis.HealthCheckApi.as_view(), name="health"),
    re_path(r"^thresholds" + SLASH, apis.ThresholdListApi.as_view(), name="thresholds"),
    re_path(r"^baselines" + SLASH, apis.BaselineListApi.as_view(), name="baselines"),
    re_path(r"^sources" + SLASH, apis.SourceListApi.as_view(), name="sources"),
    re_path(r"^drift/status" + SLASH, apis.DriftStatusListApi.as_view(), name="drift-status"),
    re_path(r"^drift/events" + SLASH, apis.DriftEventListApi.as_view(), name="drift-events"),
    re_path(r"^drift/series" + SLASH, apis.DriftSeriesGetApi.as_view(), name="drift-series"),
    re_path(r"^drift/report" + SLASH, apis.DriftReportGetApi.as_view(), name="drift-report"),
    re_path(r"^api/schema" + SLASH, SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs" + SLASH, SwaggerUiView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^metrics" + SLASH, metrics_view, name="metrics"),
    re_path(r"^dashboard" + SLASH, dashboard.DashboardIndexView.as_view(), name="dashboard"),
    re_path(r"^dashboard/report" + SLASH, dashboard.DashboardReportView.as_view(), name="dashboard-report"),
    re_path(
        r"^dashboard/key/(?P<source_id>[^/]+)/(?P<metric>[^/]+)" + SLASH,
        dashboard.DashboardKeyView.as_view(),
        name="dashboard-key",
    ),
]
