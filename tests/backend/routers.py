class ModernOnEmbedded:
    """modernapp needs ClickHouse features 18.16 lacks: its tables exist only
    on the embedded engine; testapp exists on both databases."""

    def allow_migrate(self, db, app_label, **hints):
        if app_label == "modernapp":
            return db == "embedded"
        return None

    def db_for_read(self, model, **hints):
        return "embedded" if model._meta.app_label == "modernapp" else None

    db_for_write = db_for_read
