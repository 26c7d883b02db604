"""DDL literals (operations.quote_literal: defaults, settings, engine arguments)
are rendered by the driver's escaper (ext/escape.c), the one literal renderer:
they are spelled as query parameters are, and read back as the value given."""
import datetime
import decimal
import enum
import uuid

import pytest

from clickhouse_backend import _engine
from clickhouse_backend.backend.operations import quote_literal
from tests.backend.conftest import use_db

PLUS2 = datetime.timezone(datetime.timedelta(hours=2))
UTC = datetime.timezone.utc


class Colour(enum.Enum):
    RED = "red"


@pytest.mark.parametrize("value", [
    None, True, -7, 1.5, decimal.Decimal("1.20"), b"a'\x00", "x'\\\n",
    datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5),
    datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS2),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=PLUS2),
    uuid.UUID(int=5), [1, "a"], (1,), {"k": 1},
])
def test_one_renderer(value):
    assert quote_literal(value) == _engine.quote(value)


def test_other_objects_are_their_text():
    assert quote_literal([Colour.RED, {"k": datetime.timedelta(days=1)}]) == \
        "['Colour.RED', map('k', '1 day, 0:00:00')]"


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_aware_datetime_literal_reads_back(alias, request):
    conn = use_db(alias, request)
    values = [datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS2)]
    if conn.features.supports_datetime64:
        values.append(datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=PLUS2))
    with conn.cursor() as cursor:
        for value in values:
            cursor.execute("SELECT toString(%s)" % quote_literal(value))
            text = cursor.fetchone()[0]
            # The same instant, in UTC.
            assert datetime.datetime.fromisoformat(text).replace(tzinfo=UTC) == value
