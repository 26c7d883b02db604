"""Registers the Meta options this backend understands ("engine", "cluster",
"view", "ttl", "projections"). Imported by the backend and by
clickhouse_backend.models, so that migrations carry them too
(CreateModel(options={"engine": ...})), and a changed option becomes an
AlterModelOptions that the ClickHouse schema editor applies (its alter_model_<option>
method: schema.DatabaseSchemaEditor.alter_model_engine, alter_model_view,
alter_model_ttl, alter_model_projections). Also: the autodetector adds
MATERIALIZED/ALIAS fields after the other new fields (and removes them first)."""
from django.db.migrations import state
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.operations.models import AlterModelOptions
from django.db.models import options

# Options an AlterModelOptions changes in the database (the others are state only).
ALTERED = ("engine", "view", "ttl", "projections")

for _name in ("engine", "cluster", *ALTERED):
    if _name not in options.DEFAULT_NAMES:
        options.DEFAULT_NAMES = (*options.DEFAULT_NAMES, _name)
state.DEFAULT_NAMES = options.DEFAULT_NAMES

if "engine" not in AlterModelOptions.ALTER_OPTION_KEYS:
    AlterModelOptions.ALTER_OPTION_KEYS = [*AlterModelOptions.ALTER_OPTION_KEYS, *ALTERED]

    def _alter_options(self, app_label, schema_editor, from_state, to_state):
        new_model = to_state.apps.get_model(app_label, self.name)
        if not self.allow_migrate_model(schema_editor.connection.alias, new_model):
            return
        if not hasattr(schema_editor, "alter_model_engine"):
            return  # another database: options are state only
        old_model = from_state.apps.get_model(app_label, self.name)
        for name in ALTERED:
            alter = getattr(schema_editor, "alter_model_%s" % name)
            old = getattr(old_model._meta, name, None)
            new = getattr(new_model._meta, name, None)
            if old != new:
                alter(new_model, old, new)

    AlterModelOptions.database_forwards = _alter_options
    AlterModelOptions.database_backwards = _alter_options


def _computed(state, key):
    """True for a MATERIALIZED or ALIAS field (its expression may read other fields)."""
    app_label, model_name, field_name = key
    field = state.models[app_label, model_name].get_field(field_name)
    return getattr(field, "materialized", None) is not None or \
        getattr(field, "alias", None) is not None


if not getattr(MigrationAutodetector.generate_added_fields, "_clickhouse", False):
    # Django adds and removes fields in name order; a MATERIALIZED/ALIAS
    # column's expression may read a field of the same migration (an EPHEMERAL
    # one, say), which ClickHouse wants added before it and dropped after it.
    def generate_added_fields(self):
        keys = sorted(self.new_field_keys - self.old_field_keys)
        for key in sorted(keys, key=lambda k: _computed(self.to_state, k)):  # stable
            self._generate_added_field(*key)

    def generate_removed_fields(self):
        keys = sorted(self.old_field_keys - self.new_field_keys)
        for key in sorted(keys, key=lambda k: not _computed(self.from_state, k)):
            self._generate_removed_field(*key)

    generate_added_fields._clickhouse = generate_removed_fields._clickhouse = True
    MigrationAutodetector.generate_added_fields = generate_added_fields
    MigrationAutodetector.generate_removed_fields = generate_removed_fields
