"""backend/django_patches.py is the one list of the Django classes the backend
changes (issue 18): every Django class with an as_clickhouse is in its
spellings(), and the method patches it lists are in place."""
import pathlib

from django.db import models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.recorder import MigrationRecorder
from django.db.models.expressions import BaseExpression
from django.db.models.query import BaseIterable

import clickhouse_backend
from clickhouse_backend.backend import django_patches

PACKAGE = pathlib.Path(clickhouse_backend.__file__).parent


def _django_classes_with_spelling():
    # Every expression, function, aggregate and lookup class is a BaseExpression.
    found, todo = set(), [BaseExpression]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("django.") and "as_clickhouse" in cls.__dict__:
            found.add(cls)
    return found


def test_every_spelling_is_listed():
    listed = django_patches.spellings()
    unlisted = sorted(c.__qualname__ for c in _django_classes_with_spelling() - set(listed))
    assert unlisted == []
    # and every listed one is installed
    assert sorted(c.__qualname__ for c in listed if "as_clickhouse" not in c.__dict__) == []


def test_owners_exist():
    owners = {owner for owner, _, _ in django_patches.PATCHES} | set(django_patches.spellings().values())
    assert sorted(o for o in owners if not (PACKAGE / o).is_file()) == []


def _ours(function):
    return pathlib.Path(function.__code__.co_filename).is_relative_to(PACKAGE)


def test_method_patches_are_in_place():
    for method in (models.AutoField.rel_db_type, models.SmallAutoField.rel_db_type,
                   models.DateTimeField.pre_save, models.DecimalField.get_db_prep_save,
                   models.fields.json.KeyTransformIn.resolve_expression_parameter,
                   MigrationRecorder.record_unapplied, MigrationRecorder.flush,
                   BaseIterable.__aiter__, MigrationAutodetector.generate_added_fields,
                   MigrationAutodetector.generate_removed_fields):
        assert _ours(method), method.__qualname__
    assert {"engine", "cluster", "view", "ttl", "projections"} <= set(models.options.DEFAULT_NAMES)


def test_compilers_add_no_spelling():
    # One mechanism (issue 18): Django's compile() calls each node's
    # as_clickhouse; no compiler of the backend overrides it.
    from django.db.models.sql import compiler as dj

    from clickhouse_backend.backend import compiler
    for cls in (compiler.SQLCompiler, compiler.SQLUpdateCompiler, compiler.SQLDeleteCompiler,
                compiler.SQLAggregateCompiler, compiler.SQLInsertCompiler):
        assert cls.compile is dj.SQLCompiler.compile, cls.__name__
