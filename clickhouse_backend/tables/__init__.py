"""Table options both halves of the backend know: engines (``Meta.engine``) and
data skipping indexes (``Meta.indexes``). A leaf: it imports only Django, so
backend/ (which writes their DDL) and models/ (which exports them, the public
paths ``clickhouse_backend.models.engines`` / ``.indexes``) import it without
knowing each other."""
