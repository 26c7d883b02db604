"""QuerySet.to_numpy() / to_dataframe() / to_arrow() give, column by column, the
values the row path (values_list()) gives: Django's converters applied column-wise.
Server (18.16) and embedded engine; the async twins in async_tests/orm."""
import datetime
import decimal

import pytest

from tests.backend.conftest import use_db
from tests.backend.testapp.models import Event, Numbers
from tests.test_columnar import canon

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")

ALIASES = ["default", "embedded"]
EVENT_FIELDS = ["id", "ip", "ipv4", "port", "protocol", "content", "timestamp", "action", "tags", "note"]
NUMBER_FIELDS = ["id", "i8", "u64", "f32", "dec", "flag", "fixed", "day", "tup"]


def as_lists(api, result, fields):
    if api == "numpy":
        out = {}
        for f in fields:
            a = result[f]
            mask = np.ma.getmaskarray(a) if isinstance(a, np.ma.MaskedArray) else np.zeros(len(a), bool)
            data = a.data if isinstance(a, np.ma.MaskedArray) else a
            out[f] = [None if m else canon(v) for v, m in zip(list(data) if data.dtype == object else data.tolist(), mask)]
        return out
    if api == "pandas":
        return {f: [canon(v) for v in result[f].tolist()] for f in fields}
    return {f: [canon(list(v.values()) if isinstance(v, dict) and f == "tup" else v)
                for v in result.column(f).to_pylist()] for f in fields}


def check(qs, fields):
    rows = list(qs.values_list(*fields))
    want = {f: [canon(r[i]) for r in rows] for i, f in enumerate(fields)}
    for api, call in (("numpy", "to_numpy"), ("pandas", "to_dataframe"), ("arrow", "to_arrow")):
        got = getattr(qs.values_list(*fields), call)()
        assert as_lists(api, got, fields) == want, api
        got = getattr(qs.values(*fields), call)()
        assert as_lists(api, got, fields) == want, api
    return rows


@pytest.mark.parametrize("alias", ALIASES)
def test_models_as_columns_with_the_row_paths_values(alias, request):
    use_db(alias, request)
    events = Event.objects.using(alias)
    numbers = Numbers.objects.using(alias)
    events.bulk_create([
        Event(id=9001, ip="::ffff:1.2.3.4", ipv4="10.0.0.1", port=80, protocol="tcp", content="héllo",
              timestamp=datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), action=2,
              tags=["a", "b"], note=None),
        Event(id=9002, ip="2001:db8::1", port=443, protocol="udp", tags=[], note="n",
              timestamp=datetime.datetime(2020, 2, 29, tzinfo=datetime.timezone.utc)),
    ])
    numbers.bulk_create([
        Numbers(id=9001, i8=-128, u64=2 ** 64 - 1, f32=1.5, dec=decimal.Decimal("-1.250"), flag=True,
                fixed=b"ab", day=datetime.date(2024, 2, 29), tup=(1, "x")),
        Numbers(id=9002, i8=127, u64=0, f32=-0.25, dec=decimal.Decimal("0.001"), flag=False, fixed=b"abcd",
                day=None, tup=(-2, "")),
    ])
    try:
        rows = check(events.filter(id__in=[9001, 9002]).order_by("id"), EVENT_FIELDS)
        assert len(rows) == 2 and all(isinstance(r[1], str) for r in rows)  # the IP converter ran
        rows = check(numbers.filter(id__in=[9001, 9002]).order_by("id"), NUMBER_FIELDS)
        assert rows[0][5] is True  # BoolField: bool on 18.16 too (UInt8 there)
        df = numbers.filter(id=9001).values("flag", "day").to_dataframe()
        assert df["flag"].dtype == bool and df["flag"].tolist() == [True]
        # a model queryset: its concrete fields
        assert list(numbers.filter(id=9001).to_dataframe().columns) == [f.attname for f in Numbers._meta.concrete_fields]
        # nothing matches: the columns are still named
        assert list(numbers.filter(id__in=[]).values("i8", "day").to_dataframe().columns) == ["i8", "day"]
        assert list(numbers.filter(id=-1).values_list("i8", "day").to_numpy()) == ["i8", "day"]
    finally:
        events.filter(id__in=[9001, 9002]).delete()
        numbers.filter(id__in=[9001, 9002]).delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_a_plain_django_model_through_the_clickhouse_queryset(alias, request):
    from clickhouse_backend.models import QuerySet
    from tests.backend.testapp.models import Plain

    use_db(alias, request)
    objs = Plain.objects.using(alias)
    objs.create(name="col_a", value=3, flag=True, amount=decimal.Decimal("1.50"), day=datetime.date(2024, 1, 2))
    try:
        qs = QuerySet(model=Plain, using=alias).filter(name="col_a").values("name", "value", "flag", "amount", "day")
        rows = list(objs.filter(name="col_a").values_list("name", "value", "flag", "amount", "day"))
        df = qs.to_dataframe()
        assert [tuple(canon(v) for v in r) for r in df.itertuples(index=False)] == [
            tuple(canon(v) for v in r) for r in rows]
        assert df["flag"].dtype == bool
    finally:
        objs.filter(name="col_a").delete()
