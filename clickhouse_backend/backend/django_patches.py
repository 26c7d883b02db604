"""Every Django class the backend changes, and why: the one list (issue 18).

Two kinds of change, both installed by install() when the backend loads
(idempotent):

- SPELLINGS: ``as_clickhouse`` methods on Django's expression, function and
  lookup classes, the hook Django's compiler looks up per vendor. This is how
  the backend decides an expression's ClickHouse SQL (see the top of
  compiler.py for the rule); the tables live in the modules named below.
- PATCHES: methods and module attributes replaced on Django's classes where no
  vendor hook exists. Each wrapper falls through to Django's own behaviour for
  other databases.

tests/backend/test_django_patches.py checks that every Django class carrying
an ``as_clickhouse`` is listed here, and that every patch below is in place.
"""
from . import bridge, datetimes, django_functions, expressions, json_lookups, meta, recorder  # noqa: F401

# (owner module, Django class or attribute, why)
PATCHES = [
    ("backend/meta.py", "django.db.models.options.DEFAULT_NAMES (and migrations.state's)",
     "Meta options engine, cluster, view, ttl, projections: migrations carry them"),
    ("backend/meta.py", "django.db.migrations.operations.AlterModelOptions.ALTER_OPTION_KEYS, "
     "database_forwards, database_backwards",
     "a changed engine/view/ttl/projections option is altered in the database"),
    ("backend/meta.py", "django.db.migrations.autodetector.MigrationAutodetector."
     "generate_added_fields, generate_removed_fields",
     "MATERIALIZED/ALIAS fields are added after (removed before) the fields their "
     "expression may read"),
    ("backend/django_patches.py", "django.db.models.AutoField.rel_db_type, SmallAutoField.rel_db_type",
     "auto fields are Int64 snowflake ids: foreign keys to them must be Int64 too "
     "(ClickHouse joins need equal key types)"),
    ("backend/datetimes.py", "django.db.models.DateTimeField.pre_save",
     "auto_now values fit the column (whole seconds before DateTime64)"),
    ("backend/django_functions.py", "django.db.models.DecimalField.get_db_prep_save",
     "a Decimal is stored exactly or refused, never rounded by the server"),
    ("backend/json_lookups.py",
     "django.db.models.fields.json.KeyTransformIn.resolve_expression_parameter",
     "JSON key __in values compared as ClickHouse's JSON functions return them"),
    ("backend/recorder.py", "django.db.migrations.recorder.MigrationRecorder.record_unapplied, "
     "flush", "the recorder's DELETEs are mutations: waited for (mutations_sync)"),
    ("backend/bridge.py", "sync_to_async of django.db.models.query, .base, "
     "fields.related_descriptors, contrib.contenttypes.fields; "
     "django.db.models.query.BaseIterable.__aiter__; django.db.connections' storage",
     "Django's async ORM runs on the event loop through the greenlet bridge, "
     "one DatabaseWrapper per call"),
]


def _auto_field_rel_db_type():
    """Auto fields are Int64 here (snowflake ids), so foreign keys to them
    must be Int64 too: ClickHouse joins need equal key types."""
    from django.db.models import fields

    for cls in (fields.AutoField, fields.SmallAutoField):
        original = cls.rel_db_type
        if getattr(original, "_clickhouse", False):
            continue

        def rel_db_type(self, connection, _original=original):
            if connection.vendor == "clickhouse":
                return connection.data_types["BigIntegerField"]
            return _original(self, connection)

        rel_db_type._clickhouse = True
        cls.rel_db_type = rel_db_type


def spellings():
    """{Django class: owner module} of every as_clickhouse the backend installs."""
    from django.db.models import Aggregate, Value
    from django.db.models.expressions import CombinedExpression, Ref

    out = {cls: "backend/django_functions.py" for cls in django_functions.REGISTRY}
    out.update({Value: "backend/django_functions.py", Aggregate: "backend/django_functions.py",
                CombinedExpression: "backend/django_functions.py", Ref: "backend/django_functions.py"})
    out.update({cls: "backend/datetimes.py" for cls in datetimes.ADJUST})
    out.update({cls: "backend/json_lookups.py" for cls in json_lookups.spelled_classes()})
    out.update({cls: "backend/expressions.py" for cls in expressions.spelled_classes()})
    # In, pattern and Decimal lookups: expressions.py's spelling runs first,
    # then the class's other one (datetimes.py, json_lookups.py) if it has one.
    out.update({cls: out.get(cls, "backend/expressions.py")
                for cls in expressions._lookup_classes()})
    return out


def install():
    _auto_field_rel_db_type()
    datetimes.install()
    django_functions.install()
    json_lookups.install()
    expressions.install()  # after datetimes and json_lookups: wraps their lookup spellings
    recorder.install()
    bridge.install()
