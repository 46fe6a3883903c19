"""WSGI entry point (gunicorn driftsite.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "driftsite.settings")
application = get_wsgi_application()
