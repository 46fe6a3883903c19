"""Apply the versioned ClickHouse DDL idempotently (chDB or server, from CLICKHOUSE_URL)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from detection.clickhouse.client import get_client, is_embedded
from detection.clickhouse.migrator import MigrationError, plan
from detection.clickhouse.schema import migrate_from_settings, settings_placeholders


class Command(BaseCommand):
    help = "Apply pending ClickHouse migrations (detection/clickhouse/migrations/*.sql); --plan prints them."

    def add_arguments(self, parser):
        parser.add_argument("--plan", action="store_true", help="print the pending SQL and apply nothing")

    def handle(self, *args, **options):
        embedded = is_embedded(settings.CLICKHOUSE_URL)
        where = f"{settings.CLICKHOUSE_URL} database {settings.CLICKHOUSE_DATABASE}"
        try:
            if options["plan"]:
                values = settings_placeholders()
                todo = plan(get_client(), values["database"], embedded=embedded)
                for migration in todo.pending:
                    self.stdout.write(f"-- {migration.name}")
                    for statement in migration.statements(values):
                        self.stdout.write(statement + ";\n")
                self.stdout.write(f"{len(todo.pending)} pending on {where}")
                return
            todo, applied = migrate_from_settings()
        except MigrationError as exc:
            raise CommandError(str(exc)) from exc
        for name in todo.skipped:
            self.stdout.write(f"skipped {name} (server-only; not applied on chDB)")
        for name in applied:
            self.stdout.write(f"applied {name}")
        self.stdout.write(
            f"migrate_clickhouse: {len(applied)} applied, {len(todo.already)} already applied, "
            f"{len(todo.skipped)} skipped on {where}"
        )
