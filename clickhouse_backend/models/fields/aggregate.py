"""AggregateFunction(f, T...) and SimpleAggregateFunction(f, T) columns: the
states an AggregatingMergeTree merges (written by ``-State`` aggregates, usually in
a materialized view; read with ``-Merge`` aggregates) and the plain values a
SimpleAggregateFunction column merges with ``f``."""
from django.db import DataError
from django.db.models import Field

from .base import FieldMixin

__all__ = ["AggregateFunctionField", "SimpleAggregateFunctionField"]


class _AggregateFieldMixin(FieldMixin):
    def __init__(self, function, *arg_fields, **kwargs):
        if not isinstance(function, str) or not function:
            raise TypeError("%s needs the aggregate function's name first ('uniq', "
                            "'quantiles(0.5, 0.9)')." % type(self).__name__)
        self.function = function
        self.arg_fields = arg_fields
        super().__init__(**kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, path, [self.function, *self.arg_fields], kwargs

    def set_attributes_from_name(self, name):
        super().set_attributes_from_name(name)
        for field in self.arg_fields:
            field.set_attributes_from_name(name)

    def base_db_type(self, connection):
        return "%s(%s)" % (self.type_name, ", ".join(
            [self.function, *(f.db_type(connection) for f in self.arg_fields)]))

    def get_internal_type(self):
        return type(self).__name__


class AggregateFunctionField(_AggregateFieldMixin, Field):
    """A column of aggregate states, e.g. AggregateFunctionField("uniq",
    UInt64Field()). The ORM refuses to write it (DataError: a materialized view or
    INSERT ... SELECT uniqState(...) fills it); selected, it
    reads as the state's final value (finalizeAggregation); aggregated across
    rows with the matching ``-Merge`` aggregate (uniqMerge("col"))."""
    type_name = "AggregateFunction"

    def select_format(self, compiler, sql, params):
        return "finalizeAggregation(%s)" % sql, params

    def get_db_prep_save(self, value, connection):
        raise DataError("%s: aggregate states are written by -State aggregates (a materialized "
                        "view or INSERT ... SELECT), not by the ORM." % self.name)


class SimpleAggregateFunctionField(_AggregateFieldMixin, Field):
    """SimpleAggregateFunction(function, T): values of ``T`` (the one field given,
    which converts them) that an AggregatingMergeTree merges with ``function``
    (sum, max, any, groupUniqArrayArray...). ClickHouse 19.8+."""
    type_name = "SimpleAggregateFunction"
    requires = "supports_simple_aggregate_function"

    def __init__(self, function, field, **kwargs):
        super().__init__(function, field, **kwargs)

    @property
    def base_field(self):
        return self.arg_fields[0]

    def get_db_prep_value(self, value, connection, prepared=False):
        return self.base_field.get_db_prep_value(value, connection, prepared)

    def get_db_prep_save(self, value, connection):
        return self.base_field.get_db_prep_save(value, connection)

    def from_db_value(self, value, expression, connection):
        convert = getattr(self.base_field, "from_db_value", None)
        return value if convert is None else convert(value, expression, connection)

    def to_python(self, value):
        return self.base_field.to_python(value)

    def get_internal_type(self):
        # Checked and converted as the base type (integer ranges on write).
        return self.base_field.get_internal_type()
