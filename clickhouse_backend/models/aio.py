"""Names of the first async ORM design, kept for code that imports them.

Django's own async methods are native for ClickHouse databases now, on every model
and manager (clickhouse_backend/backend/bridge.py): ``Model.objects.acount()``,
``obj.asave()`` ... need nothing from here.
"""
from django.db.models import Manager
from django.db.models.query import aprefetch_related_objects


class AsyncManager(Manager):
    """Django's Manager (its async methods are native on ClickHouse)."""


def aio(queryset):
    """``queryset`` itself, as a copy: its async methods are native already."""
    return queryset._chain()


async def asave(obj, **kwargs):
    await obj.asave(**kwargs)


async def adelete(obj, **kwargs):
    return await obj.adelete(**kwargs)


async def arefresh_from_db(obj, **kwargs):
    await obj.arefresh_from_db(**kwargs)


__all__ = ["AsyncManager", "aio", "asave", "adelete", "arefresh_from_db", "aprefetch_related_objects"]
