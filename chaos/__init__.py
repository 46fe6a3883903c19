"""The fault suite of issue #10 (`make chaos`): real services, real processes, real faults.

Entry point: ``python -m chaos`` (see ``chaos/__main__.py``). Cases live in ``chaos/cases.py``,
the hostile API requests in ``chaos/api_fuzz.py``, the shared machinery in ``chaos/harness.py``.
"""
