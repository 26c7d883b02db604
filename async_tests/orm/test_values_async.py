"""No silent wrong values through the async ORM (the twin of
tests/backend/test_values.py): expected values are literals, not the sync
path's results."""
import datetime
import decimal

import pytest
from django.db import DataError
from django.db.models import Case, F, Sum, Value, When

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


async def test_empty_aggregate_is_null(alias):
    with no_thread_hop(alias):
        assert await Book.objects.using(alias).filter(title="none").aaggregate(
            s=Sum("pages"), m=Sum("pages", default=5)) == {"s": None, "m": 5}
