"""Date and time functions of ClickHouse.

The optional time zone argument is passed only when given (no implicit
current time zone: partition keys written with these functions stay the
same DDL whatever the active time zone). A time zone given with a Date
argument is dropped: a date has no time of day, so it cannot change the
result, and servers before 21.x (18.16) reject it.
"""
from django.db import models

from .. import fields
from .base import Func, check_arity, literal

__all__ = [
    "toYYYYMM", "toYYYYMMDD", "toYYYYMMDDhhmmss",
    "toStartOfMinute", "toStartOfFiveMinutes", "toStartOfTenMinutes",
    "toStartOfFifteenMinutes", "toStartOfHour", "toStartOfDay", "toStartOfMonth",
    "toStartOfQuarter", "toStartOfYear", "toStartOfWeek", "toYearWeek", "ULIDStringToDateTime",
    "ToYYYYMM", "ToStartOfMonth", "ToStartOfDay",
]


def _is_date(expression):
    field = getattr(expression, "_output_field_or_none", None)
    return isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField)


class _ZonedFunc(Func):
    """f(value[, timezone])."""
    max_args = 2
    # False where a Date's time zone matters (toStartOfDay: midnight where?).
    date_drops_timezone = True

    def __init__(self, *expressions, **extra):
        check_arity(self, expressions, 1, self.max_args)
        super().__init__(expressions[0], *map(literal, expressions[1:]), **extra)

    def resolve_expression(self, *args, **kwargs):
        c = super().resolve_expression(*args, **kwargs)
        exprs = c.get_source_expressions()
        if self.date_drops_timezone and len(exprs) == self.max_args and _is_date(exprs[0]):
            c.set_source_expressions(exprs[:-1])
        return c


class toYYYYMM(_ZonedFunc):
    output_field = fields.UInt32Field()


class toYYYYMMDD(toYYYYMM):
    pass


class toYYYYMMDDhhmmss(toYYYYMM):
    output_field = fields.UInt64Field()


class toStartOfMinute(_ZonedFunc):
    """DateTime truncations (a Date argument is refused by ClickHouse)."""
    output_field = fields.DateTimeField()
    date_drops_timezone = False


class toStartOfFiveMinutes(toStartOfMinute):
    # The plural is an alias added after 18.16; the original name works on
    # every release.
    function = "toStartOfFiveMinute"


class toStartOfTenMinutes(toStartOfMinute):
    requires = "has_to_start_of_ten_minutes"


class toStartOfFifteenMinutes(toStartOfMinute):
    pass


class toStartOfHour(toStartOfMinute):
    pass


class toStartOfDay(toStartOfMinute):
    pass


class toStartOfMonth(_ZonedFunc):
    output_field = fields.DateField()


class toStartOfQuarter(toStartOfMonth):
    pass


class toStartOfYear(toStartOfMonth):
    pass


class toYearWeek(_ZonedFunc):
    """toYearWeek(value[, mode[, timezone]]): the mode is 0 unless given."""
    output_field = fields.UInt32Field()
    requires = "has_to_year_week"
    max_args = 3

    def __init__(self, *expressions, **extra):
        check_arity(self, expressions, 1, 3)
        if len(expressions) == 1:
            expressions = (expressions[0], 0)
        super().__init__(*expressions, **extra)


class toStartOfWeek(toYearWeek):
    """toStartOfWeek(value[, mode[, timezone]]): the Date of the week's first
    day; mode 0 (weeks start on Sunday) unless given, 1 for Monday."""
    output_field = fields.DateField()
    requires = "has_to_start_of_week"


class ULIDStringToDateTime(Func):
    """ULIDStringToDateTime(ulid[, timezone]): the ULID's millisecond time."""
    output_field = fields.DateTime64Field(precision=3)
    requires = "has_ulid_functions"

    def __init__(self, *expressions, **extra):
        check_arity(self, expressions, 1, 2)
        super().__init__(expressions[0], *map(literal, expressions[1:]), **extra)


# The names clickhouse_backend used before (and its migrations reference).
ToYYYYMM = toYYYYMM
ToStartOfMonth = toStartOfMonth
ToStartOfDay = toStartOfDay
