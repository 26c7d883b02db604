from django.db.backends.base.creation import BaseDatabaseCreation


class DatabaseCreation(BaseDatabaseCreation):
    def _test_settings(self):
        return self.connection.settings_dict.get("TEST") or {}

    def _on_cluster(self):
        cluster = self._test_settings().get("cluster") or self.connection.migration_cluster
        return " ON CLUSTER %s" % self.connection.ops.quote_name(cluster) if cluster else ""

    def sql_table_creation_suffix(self):
        suffix = self._on_cluster()
        engine = self._test_settings().get("engine")
        if engine:
            suffix += " ENGINE = %s" % engine
        return suffix

    def _execute_create_test_db(self, cursor, parameters, keepdb=False):
        if keepdb:
            cursor.execute("CREATE DATABASE IF NOT EXISTS %(dbname)s%(suffix)s" % parameters)
        else:
            cursor.execute("CREATE DATABASE %(dbname)s%(suffix)s" % parameters)

    def _create_test_db(self, verbosity, autoclobber, keepdb=False):
        if self._test_settings().get("managed") is False:
            # The test database is provided from outside; use it as it is.
            return self._get_test_db_name()
        return super()._create_test_db(verbosity, autoclobber, keepdb)

    def _destroy_test_db(self, test_database_name, verbosity):
        if self._test_settings().get("managed") is False:
            return
        with self._nodb_cursor() as cursor:
            cursor.execute("DROP DATABASE IF EXISTS %s%s" % (
                self.connection.ops.quote_name(test_database_name), self._on_cluster()))
