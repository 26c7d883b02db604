"""Registers the Meta options this backend understands ("engine", "cluster").
Imported by the backend and by clickhouse_backend.models, so that migrations
carry them too (CreateModel(options={"engine": ...})), and a changed engine
becomes an AlterModelOptions that the ClickHouse schema editor applies
(schema.DatabaseSchemaEditor.alter_model_engine)."""
from django.db.migrations import state
from django.db.migrations.operations.models import AlterModelOptions
from django.db.models import options

for _name in ("engine", "cluster"):
    if _name not in options.DEFAULT_NAMES:
        options.DEFAULT_NAMES = (*options.DEFAULT_NAMES, _name)
state.DEFAULT_NAMES = options.DEFAULT_NAMES

if "engine" not in AlterModelOptions.ALTER_OPTION_KEYS:
    AlterModelOptions.ALTER_OPTION_KEYS = [*AlterModelOptions.ALTER_OPTION_KEYS, "engine"]

    def _alter_engine(self, app_label, schema_editor, from_state, to_state):
        alter = getattr(schema_editor, "alter_model_engine", None)
        if alter is None:
            return  # another database: options are state only
        new_model = to_state.apps.get_model(app_label, self.name)
        if not self.allow_migrate_model(schema_editor.connection.alias, new_model):
            return
        old_model = from_state.apps.get_model(app_label, self.name)
        alter(new_model, getattr(old_model._meta, "engine", None),
              getattr(new_model._meta, "engine", None))

    AlterModelOptions.database_forwards = _alter_engine
    AlterModelOptions.database_backwards = _alter_engine
