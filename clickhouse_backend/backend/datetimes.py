"""Date-times on a server whose DateTimeField holds whole seconds (before 20.1).

A written value with microseconds is refused (DatabaseOperations.
check_write_range); the values the backend generates itself are whole seconds
so that ordinary use never meets that refusal: auto_now/auto_now_add (cut
here, in DateTimeField.pre_save, and the instance holds the stored value), the
schema editor's fill for such a column, the migration recorder's `applied`.

Comparisons with a value that has microseconds: before ClickHouse 20.1 a DateTimeField is a DateTime column: every value it
holds (and every date-time expression) is a whole second, and the server
refuses a literal with a fraction ("String is too long for DateTime").
Cutting the bound to the second would compare with a different instant
(`lt 10:00:00.5` would miss 10:00:00), so each lookup gets the whole-second
bound that selects exactly the rows the exact instant selects:
`exact`/`in` never equal it (no match), `gt`/`lte` take the second below,
`gte`/`lt` the second above, `range` both ends inwards.
"""
import copy
import datetime

from django.core.exceptions import EmptyResultSet
from django.db.models import lookups

_SECOND = datetime.timedelta(seconds=1)


def _floor(value):
    return value.replace(microsecond=0)


def _ceil(value):
    return _floor(value) + _SECOND


def _fractional(value):
    return isinstance(value, datetime.datetime) and value.microsecond != 0


def _whole_second_lhs(lookup, connection):
    if connection.features.keeps_subsecond_datetimes:
        return False
    try:
        field = lookup.lhs.output_field
    except Exception:  # an lhs without a resolvable type: Django's path
        return False
    return field.get_internal_type() == "DateTimeField"


def _exact(rhs):
    if _fractional(rhs):
        raise EmptyResultSet
    return rhs


def _in(rhs):
    if not isinstance(rhs, (list, tuple, set, frozenset)):
        return rhs  # a subquery
    kept = [v for v in rhs if not _fractional(v)]
    if not kept:
        raise EmptyResultSet
    return kept if len(kept) != len(rhs) else rhs


def _bound(shift):
    return lambda rhs: shift(rhs) if _fractional(rhs) else rhs


def _range(rhs):
    if not isinstance(rhs, (list, tuple)) or len(rhs) != 2:
        return rhs
    lo, hi = rhs
    return (_ceil(lo) if _fractional(lo) else lo, _floor(hi) if _fractional(hi) else hi)


ADJUST = {
    lookups.Exact: _exact,
    lookups.In: _in,
    lookups.GreaterThan: _bound(_floor),
    lookups.LessThanOrEqual: _bound(_floor),
    lookups.GreaterThanOrEqual: _bound(_ceil),
    lookups.LessThan: _bound(_ceil),
    lookups.Range: _range,
}


def _as_clickhouse(adjust):
    def as_clickhouse(self, compiler, connection):
        if _whole_second_lhs(self, connection):
            rhs = adjust(self.rhs)
            if rhs is not self.rhs:
                clone = copy.copy(self)
                clone.rhs = rhs
                return clone.as_sql(compiler, connection)
        return self.as_sql(compiler, connection)
    return as_clickhouse


def whole_seconds(connection):
    """True when `connection` stores DateTimeField values as whole seconds."""
    return connection.vendor == "clickhouse" and not connection.features.keeps_subsecond_datetimes


def cut_generated(field, value, connection):
    """A date-time the backend generated for `field` (auto_now, a fill),
    cut to the second where the column keeps no more."""
    if _fractional(value) and field.get_internal_type() == "DateTimeField" and \
            whole_seconds(connection):
        return _floor(value)
    return value


def _pre_save(original):
    def pre_save(self, model_instance, add):
        value = original(self, model_instance, add)
        if (self.auto_now or (self.auto_now_add and add)) and _fractional(value):
            from django.db import connections, router

            # The database being written: Model.save_base sets _state.db
            # after the write, so a new instance asks the router.
            alias = model_instance._state.db or router.db_for_write(
                type(model_instance), instance=model_instance)
            cut = cut_generated(self, value, connections[alias])
            if cut is not value:
                setattr(model_instance, self.attname, cut)
                value = cut
        return value
    pre_save._clickhouse = True
    return pre_save


def install():
    from django.db.models import DateTimeField

    if not getattr(DateTimeField.pre_save, "_clickhouse", False):
        DateTimeField.pre_save = _pre_save(DateTimeField.pre_save)
    for cls, adjust in ADJUST.items():
        if "as_clickhouse" not in cls.__dict__:
            cls.as_clickhouse = _as_clickhouse(adjust)


__all__ = ["install"]
