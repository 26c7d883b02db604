"""Helpers of the schema-option tests (views, TTL, codecs): models on fresh table
names in an app registry of their own, and migrations made by Django's
autodetector and applied/reverted with the schema editor."""
import uuid

import pytest
from django.apps.registry import Apps
from django.db import NotSupportedError, connections
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.graph import MigrationGraph
from django.db.migrations.questioner import MigrationQuestioner
from django.db.migrations.state import ModelState, ProjectState

from clickhouse_backend import models

APP = "modelapp"


def make_model(name, fields, apps=None, table=None, **meta):
    """A ClickhouseModel ``name`` with ``fields`` and Meta options ``meta``."""
    attrs = {"app_label": APP, "apps": apps or Apps(),
             "db_table": table or "%s_%s" % (name.lower(), uuid.uuid4().hex[:8]), **meta}
    return type(name, (models.ClickhouseModel,),
                {"__module__": __name__, "Meta": type("Meta", (), attrs), **fields})


def state_of(*model_classes):
    state = ProjectState()
    for model in model_classes:
        state.add_model(ModelState.from_model(model))
    return state


def detect(before, after):
    """The operations makemigrations writes for going from state ``before`` to
    ``after``."""
    questioner = MigrationQuestioner(specified_apps={APP})
    changes = MigrationAutodetector(before, after, questioner).changes(graph=MigrationGraph())
    return [op for migration in changes.get(APP, []) for op in migration.operations]


def migrate(alias, state, operations):
    """Apply ``operations`` from ``state`` in one schema editor (as one
    migration); returns the new state."""
    with connections[alias].schema_editor() as editor:
        for op in operations:
            new = state.clone()
            op.state_forwards(APP, new)
            op.database_forwards(APP, editor, state, new)
            state = new
    return state


def unmigrate(alias, before, operations):
    """Revert ``operations`` that were applied from state ``before``."""
    states = [before]
    for op in operations:
        new = states[-1].clone()
        op.state_forwards(APP, new)
        states.append(new)
    with connections[alias].schema_editor() as editor:
        for i in range(len(operations) - 1, -1, -1):
            operations[i].database_backwards(APP, editor, states[i + 1], states[i])


def one(alias, sql, params=None):
    with connections[alias].cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def create_query(alias, table):
    """The table's (or view's, dictionary's) CREATE statement as the server keeps it."""
    return one(alias, "SELECT create_table_query FROM system.tables WHERE database = "
                      "currentDatabase() AND name = %s", [table])[0]


def exists(alias, table):
    return one(alias, "SELECT count() FROM system.tables WHERE database = "
                      "currentDatabase() AND name = %s", [table]) == (1,)


def drop(alias, *tables):
    with connections[alias].cursor() as cur:
        for table in tables:
            cur.execute('DROP TABLE IF EXISTS "%s"' % table)


def create(alias, *model_classes):
    """Create the models' tables (views last, at the schema editor's exit)."""
    with connections[alias].schema_editor() as editor:
        for model in model_classes:
            editor.create_model(model)


def refused_without(alias, flag, match, model):
    """True, after checking that creating ``model`` raises NotSupportedError
    matching ``match``, when the server lacks the features flag ``flag``."""
    if getattr(connections[alias].features, flag):
        return False
    with pytest.raises(NotSupportedError, match=match):
        create(alias, model)
    return True
