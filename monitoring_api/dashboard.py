"""The dashboard: server-rendered Django pages that then refresh themselves from the JSON API.

- ``/dashboard/``: every key's current state (colour-coded), filterable, sortable and paged
  by the API's own parameters (so 10,000 keys never travel at once).
- ``/dashboard/key/<source_id>/<metric>/``: a chart of the key's recent raw values, their rolling
  mean, the baseline mean with its band of z_threshold standard deviations and the drift periods
  shaded, plus the key's drift events and its newest baseline versions (each with the Airflow DAG
  run that produced it).

The first page is rendered on the server (it works without JavaScript); the scripts in
``static/monitoring_api/`` then fetch /drift/status, /drift/series and /drift/events every
``refresh`` seconds (``?refresh=N`` overrides DASHBOARD_REFRESH_SECONDS, default 10). Chart.js
and its annotation plugin come from npm (node_modules, served by staticfiles), never a CDN.
With API_TOKEN_AUTH on, the pages need a logged-in user (the admin login).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.urls import reverse
from django.views.generic import TemplateView

from detection.alerting.alertmanager import redact
from detection.core.events import MAX_NAME_LENGTH
from detection.core.state import DriftState
from monitoring_api import selectors

logger = logging.getLogger(__name__)

INDEX_PAGE_SIZE = 100
STATES = tuple(state.value for state in reversed(DriftState))  # display order: the urgent first


class _DashboardView(TemplateView):
    http_method_names = ["get", "head", "options"]

    def dispatch(self, request, *args, **kwargs):
        if settings.API_TOKEN_AUTH and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse("admin:login"))
        return super().dispatch(request, *args, **kwargs)

    def refresh_seconds(self) -> int:
        default = int(getattr(settings, "DASHBOARD_REFRESH_SECONDS", 10))
        try:
            value = int(self.request.GET.get("refresh", default))
        except ValueError:
            value = default
        return min(max(value, 1), 3600)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # The Alertmanager UI (ALERTMANAGER_UI_URL, default the notifier's first Alertmanager).
        context["alertmanager_ui_url"] = redact(settings.ALERTMANAGER_UI_URL) if settings.ALERTMANAGER_UI_URL else ""
        return context

    def key_url_template(self) -> str:
        return reverse("dashboard-key", kwargs={"source_id": "__SOURCE__", "metric": "__METRIC__"})


class DashboardIndexView(_DashboardView):
    template_name = "monitoring_api/dashboard/index.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            refresh_seconds=self.refresh_seconds(),
            page_size=INDEX_PAGE_SIZE,
            status_url=reverse("drift-status"),
            key_url_template=self.key_url_template(),
            states=STATES,
            state_badges=[(state, 0) for state in STATES],
        )
        try:
            page = selectors.drift_status_list(ordering="-state", limit=INDEX_PAGE_SIZE)
        except Exception as exc:  # the page still renders; the script keeps retrying
            logger.exception("dashboard: reading drift status failed")
            context["error"] = f"Could not read the drift status: {type(exc).__name__}: {exc}"
            return context
        context.update(
            rows=[
                {
                    **row,
                    "key_url": reverse("dashboard-key", kwargs={"source_id": row["source_id"], "metric": row["metric"]})
                    if "/" not in row["source_id"] + row["metric"]
                    else None,
                }
                for row in page.rows
            ],
            count=page.count,
            state_badges=[(state, page.state_counts.get(state, 0)) for state in STATES],
        )
        return context


class DashboardKeyView(_DashboardView):
    template_name = "monitoring_api/dashboard/key.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        source_id, metric = kwargs["source_id"], kwargs["metric"]
        for name in (source_id, metric):
            # The same rule as event validation (detection.core.events): a name with control
            # characters (NUL among them, which PostgreSQL cannot even compare) or longer than
            # any stored key names no key, so the page does not exist.
            if len(name) > MAX_NAME_LENGTH or not name.isprintable():
                raise Http404("No such key: source_id and metric are printable and at most "
                              f"{MAX_NAME_LENGTH} characters.")
        context.update(
            source_id=source_id,
            metric=metric,
            refresh_seconds=self.refresh_seconds(),
            series_url=reverse("drift-series"),
            events_url=reverse("drift-events"),
            dashboard_url=reverse("dashboard"),
            threshold=selectors.threshold_for_key_get(source_id=source_id, metric=metric),
            baseline=selectors.baseline_get(source_id=source_id, metric=metric),
            baseline_history=selectors.baseline_history_list(source_id=source_id, metric=metric),
        )
        try:
            context["status"] = selectors.drift_status_get(source_id=source_id, metric=metric)
        except Exception as exc:
            logger.exception("dashboard: reading the key's status failed")
            context["error"] = f"Could not read the key's status: {type(exc).__name__}: {exc}"
        return context


class DashboardReportView(_DashboardView):
    """Detection report of the last ``minutes`` (default 60): injected drifts vs transitions."""

    template_name = "monitoring_api/dashboard/report.html"

    def get_context_data(self, **kwargs):
        from datetime import UTC, datetime, timedelta

        from detection.report import detection_report

        context = super().get_context_data(**kwargs)
        try:
            minutes = min(max(int(self.request.GET.get("minutes", 60)), 1), 7 * 24 * 60)
        except ValueError:
            minutes = 60
        until = datetime.now(UTC)
        since = until - timedelta(minutes=minutes)
        report = detection_report(since=since, until=until).as_dict()
        for item in report["injected"] + report["false_starts"]:
            for field in ("start_ms", "end_ms", "event_time_ms"):
                if item.get(field) is not None:
                    item[field.replace("_ms", "")] = datetime.fromtimestamp(item[field] / 1000, tz=UTC)
        context.update(refresh_seconds=self.refresh_seconds(), minutes=minutes, since=since, until=until,
                       report=report, key_url_template=self.key_url_template())
        return context
