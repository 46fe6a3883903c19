"""Read-only monitoring API routes (filled in by the monitoring API work)."""

urlpatterns: list = []
