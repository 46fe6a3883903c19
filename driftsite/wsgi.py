"""WSGI entry point (gunicorn driftsite.wsgi)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "driftsite.settings")
application = get_wsgi_application()

# The ~100k objects of Django, DRF, clickhouse-connect and chDB's bindings live as long as the
# process: move them out of the collector's reach, so that a full collection (triggered by a
# request's allocations) does not walk them all in the middle of a request (about 10 ms here).
gc.freeze()
