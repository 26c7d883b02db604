"""Tuple functions of ClickHouse."""
from django.db.models import Value

from .. import fields
from .base import Func, check_arity, require


class Tuple(Func):
    """tuple(a, b, ...) as a TupleField of the arguments' fields."""
    function = "tuple"

    def _resolve_output_field(self):
        return fields.TupleField([f for f in self.get_source_fields() if f is not None])


class tupleElement(Func):
    """tupleElement(tuple, index[, default]): a Python int index counts from 0
    (as TupleField's field__0), a str names an element of a named tuple. The
    default (returned where the tuple has no such element) needs 22.11."""

    def __init__(self, *expressions, output_field=None, **extra):
        check_arity(self, expressions, 2, 3)
        index = expressions[1]
        if isinstance(index, int) and not isinstance(index, bool):
            index = Value(index + 1)
        elif isinstance(index, str):
            index = Value(index)
        super().__init__(expressions[0], index, *expressions[2:], output_field=output_field,
                         **extra)

    def check_support(self, connection):
        if len(self.get_source_expressions()) == 3:
            require(connection, "has_tuple_element_default", "tupleElement() with a default")

    def _resolve_output_field(self):
        tup, index = self.get_source_expressions()[:2]
        field = getattr(tup, "_output_field_or_none", None)
        if isinstance(field, fields.TupleField) and isinstance(index, Value):
            for i, (name, element) in enumerate(field._items()):
                if index.value in (i + 1, name):
                    return element
        return super()._resolve_output_field()


__all__ = ["Tuple", "tupleElement"]
