"""System checks (Django's checks framework) for models stored on ClickHouse.

clickhouse.W001: a 32-bit (or narrower) integer field that can receive a
snowflake id. Auto fields here hold 63-bit snowflake ids (ClickHouse has no
auto-increment), so a GenericForeignKey's ``object_id =
PositiveIntegerField()`` or an integer field holding another row's pk
(``*_id``/``*_pk``) cannot store them: every write of such an id is refused
with DataError. The check says so at startup, before the first write fails.
"""
from django.core import checks

CHECK_ID = "clickhouse.W001"
_SNOWFLAKE_MAX = 2**63 - 1


def _clickhouse_aliases():
    from django.db import connections

    return [alias for alias in connections
            if connections.settings[alias].get("ENGINE", "").startswith("clickhouse_backend")]


def _holders(model):
    """(field, why) for the integer fields of ``model`` that hold row ids."""
    from django.apps import apps

    opts = model._meta
    seen = set()
    gfk = None
    if apps.is_installed("django.contrib.contenttypes"):
        from django.contrib.contenttypes.fields import GenericForeignKey as gfk
    for private in opts.private_fields:
        if gfk is not None and isinstance(private, gfk):
            try:
                field = opts.get_field(private.fk_field)
            except Exception:
                continue
            seen.add(field.name)
            yield field, "the object id of GenericForeignKey %r" % private.name
    for field in opts.concrete_fields:
        if field.name in seen or field.remote_field is not None or field.primary_key:
            continue
        if field.name.endswith(("_id", "_pk")):
            yield field, "named like a foreign key's id"


def check_snowflake_holders(app_configs=None, **kwargs):
    from django.apps import apps
    from django.db import connections, router

    aliases = _clickhouse_aliases()
    if not aliases:
        return []
    models = (apps.get_models() if app_configs is None
              else [m for c in app_configs for m in c.get_models()])
    out = []
    for model in models:
        targets = [a for a in aliases if router.allow_migrate_model(a, model)]
        if not targets:
            continue
        ops = connections[targets[0]].ops
        for field, why in _holders(model):
            try:
                lo, hi = ops.integer_field_range(field.get_internal_type())
            except (KeyError, TypeError):
                continue  # not an integer field (a CharField object_id holds any id)
            if hi is None or hi >= _SNOWFLAKE_MAX:
                continue
            bigger = "PositiveBigIntegerField" if lo == 0 else "BigIntegerField"
            out.append(checks.Warning(
                "%s.%s is a %s (%d..%d), %s: it cannot hold the 63-bit snowflake ids of "
                "ClickHouse auto fields; writing one raises DataError."
                % (model._meta.label, field.name, type(field).__name__, lo, hi, why),
                hint="Use models.%s (or a CharField/TextField) for %s and migrate."
                     % (bigger, field.name),
                obj=field, id=CHECK_ID))
    return out


def register():
    checks.register(check_snowflake_holders, checks.Tags.models)
