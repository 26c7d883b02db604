"""QuerySet.ato_numpy() / ato_dataframe() / ato_arrow() through the async ORM (the
twin of tests/backend/test_columnar_orm.py): the values the async row path gives."""
import datetime

import pytest

from async_tests.orm.aioapp.models import Event
from async_tests.orm.conftest import no_thread_hop
from tests.test_columnar import canon

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")

pytestmark = pytest.mark.usefixtures("clean")
T0 = datetime.datetime(2024, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
FIELDS = ["name", "value", "ts", "tags"]


async def test_async_columns_are_the_rows_values(alias):
    events = Event.objects.using(alias)
    with no_thread_hop(alias):
        for i in range(3):
            await events.acreate(name=f"e{i}", value=i - 1, ts=T0 + datetime.timedelta(hours=i), tags=["a"] * i)
        qs = events.order_by("value").values_list(*FIELDS)
        rows = [r async for r in qs]
        want = {f: [canon(r[i]) for r in rows] for i, f in enumerate(FIELDS)}
        df = await qs.ato_dataframe()
        assert {f: [canon(v) for v in df[f].tolist()] for f in FIELDS} == want
        arrays = await qs.ato_numpy()
        assert {f: [canon(v) for v in (list(arrays[f]) if arrays[f].dtype == object else arrays[f].tolist())]
                for f in FIELDS} == want
        table = await qs.ato_arrow()
        assert {f: [canon(v) for v in table.column(f).to_pylist()] for f in FIELDS} == want
