"""Engines and data skipping indexes are defined once, in the leaf package
clickhouse_backend.tables that backend/ and models/ both import (issue 18)."""
from clickhouse_backend import models
from clickhouse_backend.models import engines, indexes
from clickhouse_backend.tables import engines as leaf_engines, indexes as leaf_indexes


def test_public_paths_are_the_leaf_classes():
    # clickhouse_backend.models.engines / .indexes (django-clickhouse-backend's
    # paths) are the classes backend/ checks with isinstance.
    for public, leaf in ((engines, leaf_engines), (indexes, leaf_indexes)):
        assert public.__all__ == leaf.__all__
        for name in leaf.__all__:
            assert getattr(public, name) is getattr(leaf, name) is getattr(models, name)
