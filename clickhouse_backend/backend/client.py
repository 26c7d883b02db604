import signal

from django.db.backends.base.client import BaseDatabaseClient


class DatabaseClient(BaseDatabaseClient):
    executable_name = "clickhouse-client"

    @classmethod
    def settings_to_cmd_args_env(cls, settings_dict, parameters):
        # clickhouse-client speaks the native protocol (port 9000/9440), not
        # HTTP: the HTTP PORT is not passed on; OPTIONS["native_port"] is.
        options = settings_dict.get("OPTIONS") or {}
        if options.get("embedded"):
            from django.core.management.base import CommandError
            raise CommandError("dbshell needs a ClickHouse server: this database uses the "
                               "embedded engine (OPTIONS['embedded']), which has no client.")
        args = [cls.executable_name]
        if settings_dict.get("HOST"):
            args += ["--host", settings_dict["HOST"]]
        if options.get("native_port"):
            args += ["--port", str(options["native_port"])]
        if settings_dict.get("USER"):
            args += ["--user", settings_dict["USER"]]
        if settings_dict.get("NAME"):
            args += ["--database", settings_dict["NAME"]]
        if options.get("secure"):
            args += ["--secure"]
        env = None
        if settings_dict.get("PASSWORD"):
            # Old clients (18.x) read no password variable from the environment.
            args += ["--password", settings_dict["PASSWORD"]]
        args.extend(parameters)
        return args, env

    def runshell(self, parameters):
        sigint_handler = signal.getsignal(signal.SIGINT)
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            super().runshell(parameters)
        finally:
            signal.signal(signal.SIGINT, sigint_handler)
