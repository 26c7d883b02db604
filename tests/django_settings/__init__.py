"""Settings for running Django's own test suite (tests/runtests.py from the
Django source distribution) against this backend: see scripts/django-tests.sh.

server.py targets the ClickHouse server in CLICKHOUSE_HTTP_URL, embedded.py
the in-process chDB engine. Both use database names unique to the process so
that concurrent runs (and other test suites) never share a database.
"""
