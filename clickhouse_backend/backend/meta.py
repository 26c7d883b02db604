"""Registers the Meta options this backend understands ("engine", "cluster").
Imported by the backend and by clickhouse_backend.models, so that migrations
carry them too (CreateModel(options={"engine": ...}))."""
from django.db.migrations import state
from django.db.models import options

for _name in ("engine", "cluster"):
    if _name not in options.DEFAULT_NAMES:
        options.DEFAULT_NAMES = (*options.DEFAULT_NAMES, _name)
state.DEFAULT_NAMES = options.DEFAULT_NAMES
