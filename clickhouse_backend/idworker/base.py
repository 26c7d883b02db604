class BaseIDWorker:
    """An id generator for auto fields: settings.CLICKHOUSE_ID_WORKER names an
    instance (a dotted path); get_id() returns a new id that fits Int64."""

    def get_id(self):
        raise NotImplementedError("%s must define get_id()." % type(self).__name__)
