"""One client per purpose on the one chDB engine of the process (detection.clickhouse.client)."""

from __future__ import annotations

import threading
import uuid

from django.conf import settings

from detection.clickhouse.client import get_client


def test_purposes_get_their_own_clients_that_see_one_database(clickhouse):
    state = get_client(purpose="state")
    assert state is not clickhouse and get_client(purpose="state") is state and get_client() is clickhouse
    table = f"{settings.CLICKHOUSE_DATABASE}.detector_checkpoints"
    columns = ["consumer_group", "topic", "partition", "next_offset", "state", "created_at"]
    group = f"clients-{uuid.uuid4().hex[:8]}"  # other tests' checkpoints stay in the table

    def insert(client, partition):
        for offset in range(10):
            client.insert(table, [[group], ["t"], [partition], [offset], [b"x"], [1_700_000_000_000 + offset]],
                          column_names=columns, column_oriented=True)

    threads = [threading.Thread(target=insert, args=(client, p)) for p, client in enumerate((clickhouse, state))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    query = (f"SELECT partition, max(next_offset) FROM {table} FINAL WHERE consumer_group = '{group}' "
             "GROUP BY partition ORDER BY partition")
    assert clickhouse.query(query).result_rows == state.query(query).result_rows == [(0, 9), (1, 9)]
