"""Django's async ORM API, run on the event loop through the driver's AsyncCursor.

Django implements aget(), acount(), asave() ... as ``sync_to_async(sync method)``:
one worker thread runs them one after the other. Here they build SQL with Django's
compiler on the loop (CPU only), execute it on the async cursor (the process-wide
HTTP pool, no thread) and turn rows into results with Django's own code
(clickhouse_backend/backend/async_compiler.py explains how).

* :class:`AsyncQuerySetMixin` is part of clickhouse_backend's QuerySet (so of every
  ClickhouseModel manager); :class:`AsyncModelMixin` gives ClickhouseModel asave(),
  adelete(), arefresh_from_db().
* Plain Django models: ``objects = AsyncManager()`` on the model, or ``aio(qs)`` for
  any queryset; ``asave(obj)``, ``adelete(obj)``, ``arefresh_from_db(obj)`` for any
  instance.
* On a database that is not ClickHouse every method is Django's own.

Not native (Django's thread path is used, see docs/async.md): models that
override save()/delete(), multi-table inheritance (asave), aexplain().
"""
import operator

from django.db import IntegrityError, NotSupportedError, connections, router
from django.db.models import Model, query as dj_query
from django.db.models.deletion import Collector
from django.db.models.fields import Field
from django.db.models.manager import BaseManager
from django.db.models.query import prefetch_related_objects
from django.db.models.signals import post_save, pre_save
from django.db.models.sql import DeleteQuery, UpdateQuery
from django.db.models.utils import resolve_callables

from clickhouse_backend.backend import async_compiler as ac

# Iterables that turn exactly one row into one item: they can be streamed.
_STREAMABLE = (dj_query.ModelIterable, dj_query.ValuesIterable, dj_query.ValuesListIterable,
               dj_query.FlatValuesListIterable)
# Django's iterables that read their rows from one query.get_compiler().execute_sql():
# they are run once on rows fetched beforehand (ac.afetch_list).
_PREFETCHABLE = (dj_query.ModelIterable, dj_query.ValuesIterable, dj_query.ValuesListIterable,
                 dj_query.NamedValuesListIterable, dj_query.FlatValuesListIterable)


def _native(alias):
    return ac.is_clickhouse(connections[alias])


class AsyncQuerySetMixin:
    """Native async versions of Django's QuerySet a* methods."""

    # ---- reading ------------------------------------------------------------------

    async def _alist(self):
        """list(self._iterable_class(self)), the query compiled once."""
        if self._iterable_class in _PREFETCHABLE:
            return await ac.afetch_list(self.db, self.query, lambda: self._iterable_class(self))
        return await ac.arun(self.db, lambda: list(self._iterable_class(self)))

    async def _afetch_all(self):
        if self._result_cache is None:
            self._result_cache = await self._alist()
        if self._prefetch_related_lookups and not self._prefetch_done:
            await ac.arun(self.db, self._prefetch_related_objects)

    def __aiter__(self):
        if not _native(self.db):
            return super().__aiter__()

        async def generator():
            await self._afetch_all()
            for item in self._result_cache:
                yield item

        return generator()

    async def aiterator(self, chunk_size=2000):
        if not _native(self.db):
            async for item in super().aiterator(chunk_size):
                yield item
            return
        if chunk_size <= 0:
            raise ValueError("Chunk size must be strictly positive.")
        if issubclass(self._iterable_class, _STREAMABLE):
            def make_iter():
                return iter(self._iterable_class(self, chunked_fetch=True, chunk_size=chunk_size))

            items = ac.astream(self.db, make_iter, chunk_size)
        else:
            items = _iter_list(await self._alist())
        if not self._prefetch_related_lookups:
            async for item in items:
                yield item
            return
        chunk = []
        async for item in items:
            chunk.append(item)
            if len(chunk) >= chunk_size:
                await aprefetch_related_objects(chunk, *self._prefetch_related_lookups)
                for obj in chunk:
                    yield obj
                chunk = []
        if chunk:
            await aprefetch_related_objects(chunk, *self._prefetch_related_lookups)
            for obj in chunk:
                yield obj

    async def _aread(self, method_name, /, *args, **kwargs):
        """Django's sync read method ``method_name``, its queries replayed on the async cursor."""
        if not _native(self.db):
            return await getattr(super(), "a" + method_name)(*args, **kwargs)
        method = getattr(self, method_name)
        return await ac.arun(self.db, lambda: method(*args, **kwargs))

    async def _asingle(self, method_name, finish, *args, **kwargs):
        """Django's sync ``method_name`` whose one query returns one row, compiled
        once (ac.aplan_single); ``finish(compiler, row)`` makes the result."""
        if not _native(self.db):
            return await getattr(super(), "a" + method_name)(*args, **kwargs)
        method = getattr(self, method_name)
        return await ac.aplan_single(self.db, lambda: method(*args, **kwargs), finish)

    async def aget(self, *args, **kwargs):
        if not _native(self.db):
            return await super().aget(*args, **kwargs)
        # Django's get(), with the rows fetched by _afetch_all()
        if self.query.combinator and (args or kwargs):
            raise NotSupportedError("Calling QuerySet.get(...) with filters after %s() is not supported."
                                    % self.query.combinator)
        clone = self._chain() if self.query.combinator else self.filter(*args, **kwargs)
        if self.query.can_filter() and not self.query.distinct_fields:
            clone = clone.order_by()
        limit = None
        if (not clone.query.select_for_update
                or connections[clone.db].features.supports_select_for_update_with_limit):
            limit = dj_query.MAX_GET_RESULTS
            clone.query.set_limits(high=limit)
        await clone._afetch_all()
        num = len(clone._result_cache)
        if num == 1:
            return clone._result_cache[0]
        if not num:
            raise self.model.DoesNotExist("%s matching query does not exist." % self.model._meta.object_name)
        raise self.model.MultipleObjectsReturned(
            "get() returned more than one %s -- it returned %s!"
            % (self.model._meta.object_name, num if not limit or num < limit else "more than %s" % (limit - 1)))

    async def acount(self):
        if self._result_cache is not None:
            return len(self._result_cache)
        return await self._asingle("count", lambda c, row: ac.aggregation_result(c, row)["__count"])

    async def aexists(self):
        return await self._asingle("exists", lambda c, row: bool(row))

    async def acontains(self, obj):
        return await self._asingle("contains", lambda c, row: bool(row), obj=obj)

    async def _afirst_of(self, queryset):
        sliced = queryset[:1]
        if isinstance(sliced, list):  # the result cache, sliced
            return sliced[0] if sliced else None
        await sliced._afetch_all()
        return sliced._result_cache[0] if sliced._result_cache else None

    async def afirst(self):
        if not _native(self.db):
            return await super().afirst()
        if self.ordered:
            queryset = self
        else:
            self._check_ordering_first_last_queryset_aggregation(method="first")
            queryset = self.order_by("pk")
        return await self._afirst_of(queryset)

    async def alast(self):
        if not _native(self.db):
            return await super().alast()
        if self.ordered:
            queryset = self.reverse()
        else:
            self._check_ordering_first_last_queryset_aggregation(method="last")
            queryset = self.order_by("-pk")
        return await self._afirst_of(queryset)

    async def _aearliest(self, *fields):
        # Django's _earliest(), ending in aget()
        if fields:
            order_by = fields
        else:
            order_by = getattr(self.model._meta, "get_latest_by")
            if order_by and not isinstance(order_by, (tuple, list)):
                order_by = (order_by,)
        if order_by is None:
            raise ValueError("earliest() and latest() require either fields as positional "
                             "arguments or 'get_latest_by' in the model's Meta.")
        obj = self._chain()
        obj.query.set_limits(high=1)
        obj.query.clear_ordering(force=True)
        obj.query.add_ordering(*order_by)
        return await obj.aget()

    async def aearliest(self, *fields):
        if not _native(self.db):
            return await super().aearliest(*fields)
        if self.query.is_sliced:
            raise TypeError("Cannot change a query once a slice has been taken.")
        return await self._aearliest(*fields)

    async def alatest(self, *fields):
        if not _native(self.db):
            return await super().alatest(*fields)
        if self.query.is_sliced:
            raise TypeError("Cannot change a query once a slice has been taken.")
        return await self.reverse()._aearliest(*fields)

    async def aaggregate(self, *args, **kwargs):
        return await self._asingle("aggregate", ac.aggregation_result, *args, **kwargs)

    async def ain_bulk(self, id_list=None, *, field_name="pk"):
        return await self._aread("in_bulk", id_list=id_list, field_name=field_name)

    def raw(self, raw_query, params=(), translations=None, using=None):
        qs = super().raw(raw_query, params=params, translations=translations, using=using)
        qs.__class__ = AsyncRawQuerySet
        return qs

    # ---- writing ------------------------------------------------------------------

    async def acreate(self, **kwargs):
        if not _native(self.db):
            return await super().acreate(**kwargs)
        reverse_one_to_one_fields = frozenset(kwargs).intersection(
            self.model._meta._reverse_one_to_one_field_names)
        if reverse_one_to_one_fields:
            raise ValueError("The following fields do not exist in this model: %s"
                             % ", ".join(reverse_one_to_one_fields))
        obj = self.model(**kwargs)
        self._for_write = True
        await asave(obj, force_insert=True, using=self.db)
        return obj

    acreate.alters_data = True

    async def abulk_create(self, objs, batch_size=None, ignore_conflicts=False,
                           update_conflicts=False, update_fields=None, unique_fields=None):
        if not _native(self.db):
            return await super().abulk_create(
                objs, batch_size=batch_size, ignore_conflicts=ignore_conflicts,
                update_conflicts=update_conflicts, update_fields=update_fields,
                unique_fields=unique_fields)
        objs = list(objs)
        _assign_snowflake_pks(self.model, objs, connections[self.db])
        # Django's bulk_create() in a replay run: with every pk set up front its
        # INSERT batches are the same in every run, and each is sent once.
        return await ac.arun(self.db, lambda: self.bulk_create(
            objs, batch_size=batch_size, ignore_conflicts=ignore_conflicts,
            update_conflicts=update_conflicts, update_fields=update_fields,
            unique_fields=unique_fields), dml=True)

    abulk_create.alters_data = True

    async def aupdate(self, **kwargs):
        if not _native(self.db):
            return await super().aupdate(**kwargs)
        self._for_write = True
        return await ac.arun(self.db, lambda: self.update(**kwargs), dml=True)

    aupdate.alters_data = True

    async def aget_or_create(self, defaults=None, **kwargs):
        if not _native(self.db):
            return await super().aget_or_create(defaults=defaults, **kwargs)
        self._for_write = True
        try:
            return await self.aget(**kwargs), False
        except self.model.DoesNotExist:
            params = self._extract_model_params(defaults, **kwargs)
            try:
                params = dict(resolve_callables(params))
                return await self.acreate(**params), True
            except IntegrityError:
                try:
                    return await self.aget(**kwargs), False
                except self.model.DoesNotExist:
                    pass
                raise

    aget_or_create.alters_data = True

    async def aupdate_or_create(self, defaults=None, create_defaults=None, **kwargs):
        if not _native(self.db):
            return await super().aupdate_or_create(
                defaults=defaults, create_defaults=create_defaults, **kwargs)
        # As Django's update_or_create() without select_for_update(): ClickHouse
        # has no row locks (nor transactions).
        update_defaults = defaults or {}
        if create_defaults is None:
            create_defaults = update_defaults
        self._for_write = True
        obj, created = await self.aget_or_create(create_defaults, **kwargs)
        if created:
            return obj, created
        for k, v in resolve_callables(update_defaults):
            setattr(obj, k, v)
        update_fields = set(update_defaults)
        concrete_field_names = self.model._meta._non_pk_concrete_field_names
        if concrete_field_names.issuperset(update_fields):
            # Fields set in pre_save() (auto_now) are saved too, as in Django.
            pk_fields = self.model._meta.pk_fields
            for field in self.model._meta.local_concrete_fields:
                if not (field in pk_fields or field.__class__.pre_save is Field.pre_save):
                    update_fields.add(field.name)
                    if field.name != field.attname:
                        update_fields.add(field.attname)
            await asave(obj, using=self.db, update_fields=update_fields)
        else:
            await asave(obj, using=self.db)
        return obj, False

    aupdate_or_create.alters_data = True

    async def adelete(self):
        if not _native(self.db):
            return await super().adelete()
        # delete()'s checks and query preparation, then the collector's work async.
        self._not_support_combined_queries("delete")
        if self.query.is_sliced:
            raise TypeError("Cannot use 'limit' or 'offset' with delete().")
        if self.query.distinct_fields:
            raise TypeError("Cannot call delete() after .distinct(*fields).")
        if self._fields is not None:
            raise TypeError("Cannot call delete() after .values() or .values_list()")
        del_query = self._chain()
        del_query._for_write = True
        del_query.query.select_for_update = False
        del_query.query.select_related = False
        del_query.query.clear_ordering(force=True)
        result = await _acollect_and_delete(del_query.db, self, lambda c: c.collect(del_query))
        self._result_cache = None
        return result

    adelete.alters_data = True
    adelete.queryset_only = True


async def _iter_list(items):
    for item in items:
        yield item


class AsyncRawQuerySet(dj_query.RawQuerySet):
    """RawQuerySet whose async iteration runs on the async cursor."""

    def __aiter__(self):
        if not _native(self.db):
            return super().__aiter__()

        async def generator():
            if self._result_cache is None:
                await ac.arun(self.db, self._fetch_all)
            for item in self._result_cache:
                yield item

        return generator()


class AsyncManager(BaseManager.from_queryset(type("QuerySet", (AsyncQuerySetMixin, dj_query.QuerySet), {}))):
    """``objects = AsyncManager()`` gives a plain Django model the native async API."""


def aio(queryset):
    """A copy of any queryset with the native async API (for models whose manager
    is Django's): ``await aio(Plain.objects.filter(...)).acount()``."""
    if isinstance(queryset, AsyncQuerySetMixin):
        return queryset._chain()
    cls = _aio_classes.get(type(queryset))
    if cls is None:
        cls = type(type(queryset).__name__, (AsyncQuerySetMixin, type(queryset)), {})
        _aio_classes[type(queryset)] = cls
    clone = queryset._chain()
    clone.__class__ = cls
    return clone


_aio_classes = {}


async def aprefetch_related_objects(model_instances, *related_lookups):
    """Django's prefetch_related_objects() with its queries on the async cursor."""
    if not model_instances:
        return
    db = model_instances[0]._state.db or router.db_for_read(type(model_instances[0]))
    if not _native(db):
        return await dj_query.aprefetch_related_objects(model_instances, *related_lookups)
    await ac.arun(db, lambda: prefetch_related_objects(model_instances, *related_lookups))


# ---- instances ------------------------------------------------------------------------

def _assign_snowflake_pks(model, objs, wrapper):
    """The pks the INSERT compiler would give (clickhouse_backend.utils.snowflake),
    assigned before the statement is built so that replay runs see the same rows."""
    from django.db.models.fields import AutoFieldMixin

    from clickhouse_backend.utils.snowflake import generate_id

    pk = model._meta.pk
    if ac.is_clickhouse(wrapper) and isinstance(pk, AutoFieldMixin):
        for obj in objs:
            if getattr(obj, pk.attname) is None:
                setattr(obj, pk.attname, generate_id())


def _overrides(obj, name, *allowed):
    impl = getattr(type(obj), name)
    return impl is not getattr(Model, name) and all(impl is not getattr(a, name, None) for a in allowed)


class _SaveArgs(BaseException):
    pass


async def asave(obj, force_insert=False, force_update=False, using=None, update_fields=None):
    """``obj.save()`` with its queries on the async cursor (signals are sent)."""
    using_ = using or router.db_for_write(obj.__class__, instance=obj)
    if (not _native(using_) or _overrides(obj, "save", AsyncModelMixin)
            or obj._meta.parents):
        return await Model.asave(obj, force_insert=force_insert, force_update=force_update,
                                 using=using, update_fields=update_fields)
    # Model.save()'s checks and argument handling (no I/O), up to save_base().
    captured = {}

    def save_base(**kwargs):
        captured.update(kwargs)
        raise _SaveArgs

    obj.save_base = save_base
    try:
        Model.save(obj, force_insert=force_insert, force_update=force_update, using=using,
                   update_fields=update_fields)
    except _SaveArgs:
        pass
    finally:
        del obj.save_base
    if captured:
        await _asave_base(obj, **captured)


async def _asave_base(obj, raw=False, force_insert=False, force_update=False, using=None,
                      update_fields=None):
    """Model.save_base() for a model without parents."""
    using = using or router.db_for_write(obj.__class__, instance=obj)
    cls = origin = obj.__class__
    if cls._meta.proxy:
        cls = cls._meta.concrete_model
    meta = cls._meta
    if not meta.auto_created:
        pre_save.send(sender=origin, instance=obj, raw=raw, using=using, update_fields=update_fields)
    if not raw:
        force_insert = obj._validate_force_insert(force_insert)
    updated = await _asave_table(obj, raw, cls, force_insert, force_update, using, update_fields)
    obj._state.db = using
    obj._state.adding = False
    if not meta.auto_created:
        post_save.send(sender=origin, instance=obj, created=(not updated),
                       update_fields=update_fields, raw=raw, using=using)


async def _asave_table(obj, raw, cls, force_insert, force_update, using, update_fields):
    """Model._save_table(): the decisions are Django's; _do_update()/_do_insert()
    (ClickhouseModel's mutation-based update included) run in replay runs."""
    from django.db import DatabaseError
    from django.db.models import ExpressionWrapper, IntegerField, Max, Value
    from django.db.models.functions import Coalesce

    meta = cls._meta
    pk_fields = meta.pk_fields
    non_pks = [f for f in meta.local_concrete_fields if f not in pk_fields and not f.generated]
    if update_fields:
        non_pks = [f for f in non_pks if f.name in update_fields or f.attname in update_fields]
    if not obj._is_pk_set(meta):
        setattr(obj, meta.pk.attname, meta.pk.get_pk_value_on_save(obj))
    pk_set = obj._is_pk_set(meta)
    if not pk_set and (force_update or update_fields):
        raise ValueError("Cannot force an update in save() with no primary key.")
    updated = False
    if (not raw and not force_insert and not force_update and obj._state.adding
            and all(f.has_default() or f.has_db_default() for f in meta.pk_fields)):
        force_insert = True
    if pk_set and not force_insert:
        base_qs = cls._base_manager.using(using)
        values = [(f, None, getattr(obj, f.attname) if raw else f.pre_save(obj, False))
                  for f in non_pks]
        forced_update = update_fields or force_update
        pk_val = obj._get_pk_val(meta)
        updated = await ac.arun(using, lambda: obj._do_update(
            base_qs, using, pk_val, values, update_fields, forced_update), dml=True)
        if force_update and not updated:
            raise DatabaseError("Forced update did not affect any rows.")
        if update_fields and not updated:
            raise DatabaseError("Save with update_fields did not affect any rows.")
    if not updated:
        if meta.order_with_respect_to:
            field = meta.order_with_respect_to
            filter_args = field.get_filter_kwargs_for_object(obj)
            obj._order = (await aio(cls._base_manager.using(using).filter(**filter_args)).aaggregate(
                _order__max=Coalesce(ExpressionWrapper(Max("_order") + Value(1),
                                                       output_field=IntegerField()), Value(0))))["_order__max"]
        fields = [f for f in meta.local_concrete_fields
                  if not f.generated and (pk_set or f is not meta.auto_field)]
        returning_fields = meta.db_returning_fields
        results = await ac.arun(using, lambda: obj._do_insert(
            cls._base_manager, using, fields, returning_fields, raw), dml=True)
        if results:
            for value, field in zip(results[0], returning_fields):
                setattr(obj, field.attname, value)
    return updated


async def adelete(obj, using=None, keep_parents=False):
    """``obj.delete()`` with its queries on the async cursor."""
    using_ = using or router.db_for_write(obj.__class__, instance=obj)
    if not _native(using_) or _overrides(obj, "delete", AsyncModelMixin):
        return await Model.adelete(obj, using=using, keep_parents=keep_parents)
    if not obj._is_pk_set():
        raise ValueError("%s object can't be deleted because its %s attribute is set to None."
                         % (obj._meta.object_name, obj._meta.pk.attname))
    return await _acollect_and_delete(using_, obj, lambda c: c.collect([obj], keep_parents=keep_parents))


async def arefresh_from_db(obj, using=None, fields=None, from_queryset=None):
    """``obj.refresh_from_db()`` with its query on the async cursor."""
    db = using or (from_queryset.db if from_queryset is not None else None) or obj._state.db \
        or router.db_for_read(obj.__class__, instance=obj)
    if not _native(db):
        return await Model.arefresh_from_db(obj, using=using, fields=fields,
                                            from_queryset=from_queryset)
    await ac.arun(db, lambda: obj.refresh_from_db(using=using, fields=fields,
                                                 from_queryset=from_queryset))


async def _acollect_and_delete(using, origin, collect):
    """Collector.collect() (its reads replayed) then Collector.delete()'s work,
    each DELETE/UPDATE sent once. Transactions are no-ops on ClickHouse."""
    from collections import Counter

    from django.db.models import signals

    def run_collect():
        collector = Collector(using=using, origin=origin)
        collect(collector)
        return collector

    c = await ac.arun(using, run_collect)
    for model, instances in c.data.items():
        c.data[model] = sorted(instances, key=operator.attrgetter("pk"))
    c.sort()
    counter = Counter()
    if len(c.data) == 1:
        (model, instances), = c.data.items()
        if len(instances) == 1 and c.can_fast_delete(instances[0]):
            instance = instances[0]
            count = await ac.arun(using, lambda: DeleteQuery(model).delete_batch([instance.pk], using),
                                  dml=True)
            setattr(instance, model._meta.pk.attname, None)
            return count, {model._meta.label: count}
    for model, obj in c.instances_with_model():
        if not model._meta.auto_created:
            signals.pre_delete.send(sender=model, instance=obj, using=using, origin=c.origin)
    for qs in c.fast_deletes:
        count = await ac.arun(using, lambda: qs._raw_delete(using=using), dml=True)
        if count:
            counter[qs.model._meta.label] += count
    for (field, value), instances_list in c.field_updates.items():
        updates, objs = [], []
        for instances in instances_list:
            if isinstance(instances, dj_query.QuerySet) and instances._result_cache is None:
                updates.append(instances)
            else:
                objs.extend(instances)
        if updates:
            combined = updates[0]
            for u in updates[1:]:
                combined = combined | u
            await ac.arun(using, lambda: combined.update(**{field.name: value}), dml=True)
        if objs:
            upd_model = objs[0].__class__
            pks = list({o.pk for o in objs})
            await ac.arun(using, lambda: UpdateQuery(upd_model).update_batch(
                pks, {field.name: value}, using), dml=True)
    for instances in c.data.values():
        instances.reverse()
    for model, instances in c.data.items():
        pk_list = [o.pk for o in instances]
        count = await ac.arun(using, lambda: DeleteQuery(model).delete_batch(pk_list, using), dml=True)
        if count:
            counter[model._meta.label] += count
        if not model._meta.auto_created:
            for o in instances:
                signals.post_delete.send(sender=model, instance=o, using=using, origin=c.origin)
    for model, instances in c.data.items():
        for instance in instances:
            setattr(instance, model._meta.pk.attname, None)
    return sum(counter.values()), dict(counter)


class AsyncModelMixin:
    """asave(), adelete(), arefresh_from_db() on the async cursor (ClickhouseModel)."""

    async def asave(self, *args, force_insert=False, force_update=False, using=None,
                    update_fields=None):
        if args:  # Django accepts no positional arguments here since 5.1
            raise TypeError("asave() takes keyword arguments only")
        await asave(self, force_insert=force_insert, force_update=force_update, using=using,
                    update_fields=update_fields)

    asave.alters_data = True

    async def adelete(self, using=None, keep_parents=False):
        return await adelete(self, using=using, keep_parents=keep_parents)

    adelete.alters_data = True

    async def arefresh_from_db(self, using=None, fields=None, from_queryset=None):
        await arefresh_from_db(self, using=using, fields=fields, from_queryset=from_queryset)


__all__ = ["AsyncQuerySetMixin", "AsyncModelMixin", "AsyncManager", "AsyncRawQuerySet", "aio",
           "asave", "adelete", "arefresh_from_db", "aprefetch_related_objects"]
