"""The baseline fold, wired: ClickHouse's side of it (:mod:`.fold`) and run_stack's internal
endpoint through which an Airflow task asks for a fold in embedded mode (:mod:`.endpoint`).

The PostgreSQL side (locking, Chan merge, history) is :mod:`config_app.services.baselines`.
"""
