"""No silent wrong values through the async ORM (the twin of
tests/backend/test_values.py): expected values are literals, not the sync
path's results."""
import datetime
import decimal

import pytest
from django.db import DataError
from django.db.models import BigIntegerField, Case, F, IntegerField, Sum, Value, When
from django.db.models.functions import Cast, Coalesce

from async_tests.orm.aioapp.models import Author, Book, Event
from async_tests.orm.conftest import no_thread_hop

pytestmark = pytest.mark.usefixtures("clean")
T0 = datetime.datetime(2024, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)


async def test_case_when_snowflake_and_ranges(alias):
    events = Event.objects.using(alias)
    books = Book.objects.using(alias)
    with no_thread_hop(alias):
        e = await events.acreate(name="x", value=1, ts=T0, tags=["a"])
        assert e.pk >= 2**31
        # A snowflake id through Case/When into an Int64 column: exact (was toInt32()).
        await events.filter(pk=e.pk).aupdate(value=Case(When(pk=e.pk, then=e.pk)))
        assert (await events.aget(pk=e.pk)).value == e.pk
        # ... into an IntegerField: refused, nothing written.
        author = await Author.objects.using(alias).acreate(name="a")
        b = await books.acreate(author=author, title="t", pages=3)
        with pytest.raises(DataError, match=r"pages \(IntegerField\)"):
            await books.filter(pk=b.pk).aupdate(pages=Case(When(pk=b.pk, then=Value(e.pk)),
                                                           default=F("pages")))
        assert (await books.aget(pk=b.pk)).pages == 3
        # A server-computed overflow: refused before the mutation.
        await books.filter(pk=b.pk).aupdate(pages=2**31 - 1)
        with pytest.raises(DataError, match="2147483648 is out of range for pages"):
            await books.filter(pk=b.pk).aupdate(pages=F("pages") + 1)
        assert (await books.aget(pk=b.pk)).pages == 2**31 - 1
        # Decimal(12, 3): rounded half up; too many whole digits refused.
        await events.filter(pk=e.pk).aupdate(amount=Case(
            When(pk=e.pk, then=Value(decimal.Decimal("1.2345"))), default=F("amount")))
        assert (await events.aget(pk=e.pk)).amount == decimal.Decimal("1.235")
        with pytest.raises(DataError, match="amount"):
            await events.acreate(name="y", ts=T0, tags=["b"], amount=decimal.Decimal(10**9))
        # A date no column type holds (Date: 1970.., Date32: 1900..).
        with pytest.raises(DataError, match="day"):
            await events.acreate(name="z", ts=T0, tags=["c"], day=datetime.date(1899, 12, 31))
        assert await events.filter(name__in=["y", "z"]).acount() == 0


async def test_cast_of_a_literal_exact_or_refused(alias):
    """CAST(toInt64(2**40) AS Int32) was 0: the literal is checked against the type."""
    books = Book.objects.using(alias)
    with no_thread_hop(alias):
        author = await Author.objects.using(alias).acreate(name="c")
        b = await books.acreate(author=author, title="c", pages=3)
        mine = books.filter(pk=b.pk)
        with pytest.raises(DataError, match=r"1099511627776 is out of range for IntegerField "
                                            r"\[-2147483648, 2147483647\]"):
            await mine.annotate(v=Cast(Value(2**40), IntegerField())).values_list("v").afirst()
        with pytest.raises(DataError, match="out of range for IntegerField"):
            await mine.aupdate(pages=Coalesce(Cast(Value(-2**31 - 1), IntegerField()), F("pages")))
        assert (await mine.aget()).pages == 3
        got = await mine.annotate(v=Cast(Value(2**40), BigIntegerField()),
                                  w=Cast(Value(-2**31), IntegerField())) \
            .values_list("v", "w").aget()
        assert got == (2**40, -2**31)
        await mine.aupdate(pages=Cast(Coalesce(Value(2**31 - 1), F("pages")), IntegerField()))
        assert (await mine.aget()).pages == 2**31 - 1


async def test_empty_aggregate_is_null(alias):
    with no_thread_hop(alias):
        assert await Book.objects.using(alias).filter(title="none").aaggregate(
            s=Sum("pages"), m=Sum("pages", default=5)) == {"s": None, "m": 5}


async def test_datetime_microseconds_exact_or_refused(alias):
    """A DateTimeField value with microseconds (the twin of
    tests/backend/test_subsecond.py): refused on 18.16, whose column holds
    whole seconds, with nothing written; read back exactly on the embedded
    engine. auto_now values are what was stored; lookups select exactly."""
    from django.db import connections
    events = Event.objects.using(alias)
    fraction = T0.replace(microsecond=123456)
    keeps = connections[alias].features.keeps_subsecond_datetimes
    with no_thread_hop(alias):
        e = await events.acreate(name="w", ts=T0, tags=["w"])
        stored = await events.filter(pk=e.pk).values_list("ts", "touched").aget()
        assert stored == (e.ts, e.touched)
        e.name = "w2"
        await e.asave()
        assert await events.filter(pk=e.pk).values_list("touched", flat=True).aget() == e.touched
        writes = {
            "acreate": lambda: events.acreate(name="f", ts=fraction, tags=["f"]),
            "abulk_create": lambda: events.abulk_create(
                [Event(name="f", ts=T0, tags=["f"]), Event(name="f", ts=fraction, tags=["f"])]),
            "aupdate": lambda: events.filter(pk=e.pk).aupdate(ts=fraction),
            "case_when": lambda: events.filter(pk=e.pk).aupdate(
                ts=Case(When(pk=e.pk, then=Value(fraction)), default=F("ts"))),
        }
        for path, write in writes.items():
            if keeps:
                await write()
                continue
            with pytest.raises(DataError, match=r"Event\.ts has microseconds.*20\.1"):
                await write()
            assert await events.filter(name="f").acount() == 0, path
            assert (await events.aget(pk=e.pk)).ts == T0, path
        if keeps:
            assert (await events.aget(pk=e.pk)).ts == fraction
            assert sorted([x async for x in events.filter(name="f").values_list("ts", flat=True)]) \
                == [T0, fraction, fraction]
        # T0 and fraction rows (if any) against the instant T0 + 0.123456 s
        expect_lt = await events.filter(ts__lte=T0).acount()
        assert await events.filter(ts__lt=fraction).acount() == expect_lt
        assert await events.filter(ts__gte=fraction).acount() == \
            await events.filter(ts__gt=T0).acount()
        assert await events.filter(ts=fraction).acount() == (3 if keeps else 0)
