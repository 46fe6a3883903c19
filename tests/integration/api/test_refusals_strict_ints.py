"""Query integers are digits only: what the schema calls invalid is a 400 (found by schemathesis)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("query", ["offset=0.0", "limit=5.", "limit=1e2", "offset=abc", "limit=%201.0"])
def test_non_digit_integers_are_refused(client, clickhouse, query):
    response = client.get(f"/drift/status?{query}")
    assert response.status_code == 400, response.content


def test_digit_integers_are_taken(client, clickhouse):
    assert client.get("/drift/status?offset=0&limit=5").status_code == 200
