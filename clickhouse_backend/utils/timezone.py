"""A whole-second "now" for DateTimeField defaults.

Before ClickHouse 20.1 a DateTimeField column holds whole seconds and the
backend refuses a value with microseconds (DataError) rather than cut it:
`default=timezone.now` fails there on every save that leaves the field unset.
`default=whole_second_now` stores exactly on every server (a module-level
function, so migrations can reference it).
"""
from django.utils import timezone


def whole_second_now():
    """django.utils.timezone.now() without its microseconds."""
    return timezone.now().replace(microsecond=0)


__all__ = ["whole_second_now"]
