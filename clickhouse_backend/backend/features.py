"""What the connected ClickHouse can do. Every server-version comparison of
the backend lives here as a named flag (tests/backend/test_feature_gates.py
fails if a raw ``server_version`` comparison appears elsewhere): code asks
``connection.features.<flag>`` and, to refuse, ``require(connection, flag,
what)``, whose NotSupportedError names the release the flag needs."""
from importlib import import_module

from django.db import NotSupportedError
from django.db.backends.base.features import BaseDatabaseFeatures
from django.utils.functional import cached_property


# join_use_nulls: a LEFT JOIN without a match gives NULLs (as SQL and Django
# expect), not the columns' default values. aggregate_functions_null_for_empty
# (21.x+): SUM/AVG/MAX... over no rows are NULL, not 0/nan (count() stays 0).
# input_format_null_as_default=0: NULL inserted into a non-Nullable column is
# refused (IntegrityError, as a NOT NULL column), not stored as 0 or ''.
DEFAULT_SETTINGS = {"join_use_nulls": 1, "aggregate_functions_null_for_empty": 1,
                    "input_format_null_as_default": 0}

# Settings the backend can emulate when the server does not know them.
EMULATED_SETTINGS = {"mutations_sync"}
# (Kept here, the leaf of backend/, so that features, base and compiler all
# read them without importing each other.)


def version_text(version):
    return ".".join(map(str, version))


def flag_version(connection, flag):
    """The release a flag made by _since needs."""
    return getattr(type(connection.features), flag).version


def require(connection, flag, what):
    """NotSupportedError unless the features flag `flag` (made by _since) is
    true on `connection`."""
    if getattr(connection.features, flag):
        return
    raise NotSupportedError("%s needs ClickHouse %s or later (server is %s)." % (
        what, version_text(flag_version(connection, flag)), version_text(connection.server_version)))


def _since(version):
    """A feature flag true when the server is at least `version` (kept on the
    flag as .version, which NotSupportedError messages name)."""
    flag = cached_property(lambda self: self.connection.server_version >= version)
    flag.version = version
    return flag


class DatabaseFeatures(BaseDatabaseFeatures):
    minimum_database_version = (18, 16)
    allows_group_by_selected_pks = False
    allows_group_by_select_index = False
    # Ids are generated client-side (snowflake), so INSERT can "return" them.
    can_return_columns_from_insert = True
    can_return_rows_from_bulk_insert = True
    has_bulk_insert = True
    uses_savepoints = False
    can_release_savepoints = False
    related_fields_match_type = True
    supports_foreign_keys = False
    # No foreign keys, so no database-level on_delete (Django 6.1's DB_CASCADE,
    # DB_SET_NULL, DB_SET_DEFAULT).
    supports_on_delete_db_cascade = False
    supports_on_delete_db_default = False
    supports_on_delete_db_null = False
    can_create_inline_fk = False
    indexes_foreign_keys = False
    supports_column_check_constraints = False
    can_introspect_foreign_keys = False
    can_introspect_check_constraints = False
    supports_nullable_unique_constraints = False
    supports_partially_nullable_unique_constraints = False
    supports_deferrable_unique_constraints = False
    supports_partial_indexes = False
    supports_functions_in_partial_indexes = False
    supports_covering_indexes = False
    supports_index_column_ordering = False
    supports_expression_indexes = True
    supports_tablespaces = False
    supports_sequence_reset = False
    can_rollback_ddl = False
    atomic_transactions = False
    supports_combined_alters = True
    can_defer_constraint_checks = False
    has_native_uuid_field = True
    has_native_duration_field = False
    supports_temporal_subtraction = True
    supports_timezones = False
    has_zoneinfo_database = True
    supports_order_by_nulls_modifier = True
    nulls_order_largest = True
    order_by_nulls_first = False
    requires_literal_defaults = True
    supports_default_keyword_in_insert = False
    supports_default_keyword_in_bulk_insert = False
    supports_ignore_conflicts = False
    supports_update_conflicts = False
    supports_update_conflicts_with_target = False
    supports_select_for_update_with_limit = False
    has_select_for_update = False
    supports_select_intersection = False
    supports_select_difference = False
    supports_slicing_ordering_in_compound = True
    supports_paramstyle_pyformat = True
    supports_aggregate_filter_clause = False
    supports_json_field_contains = False
    supports_primitives_in_json_field = True
    can_introspect_json_field = False
    supports_collation_on_charfield = False
    supports_collation_on_textfield = False
    supports_unlimited_charfield = True
    supports_boolean_expr_in_select_clause = True
    test_db_allows_multiple_connections = True
    closed_cursor_error_class = Exception
    connection_persists_old_columns = False
    ignores_table_name_case = False
    can_clone_databases = False
    supports_stored_generated_columns = False
    supports_virtual_generated_columns = False
    # A unique constraint cannot be enforced by ClickHouse.
    allows_multiple_constraints_on_same_fields = True
    introspected_field_types = {
        **BaseDatabaseFeatures.introspected_field_types,
        "AutoField": "BigIntegerField",
        "BigAutoField": "BigIntegerField",
        "SmallAutoField": "BigIntegerField",
        "BooleanField": "BooleanField",
        "CharField": "TextField",
        "DurationField": "BigIntegerField",
        "GenericIPAddressField": "GenericIPAddressField",
        "PositiveBigIntegerField": "PositiveBigIntegerField",
        "PositiveIntegerField": "PositiveIntegerField",
        "PositiveSmallIntegerField": "PositiveSmallIntegerField",
        "TimeField": "TextField",
    }

    # ---- version dependent ------------------------------------------------
    # Dates and date-times parse only from 1970 to 2105-12-31 (older DateLUT):
    # others are stored as 1970-01-01. Seen on 18.16; 20.1 is the first version
    # tested without the limit.
    date_lut_ends_2105 = cached_property(lambda self: not self.supports_datetime64)
    supports_bool_type = _since((21, 12))
    # BooleanField is Bool from 21.12 (UInt8 before).
    has_native_boolean_field = _since((21, 12))
    supports_date32 = _since((21, 9))
    supports_datetime64 = _since((20, 1))
    # DateTimeField keeps microseconds (DateTime64(6)) from 20.1; before, its
    # DateTime column holds whole seconds, so a value with microseconds is
    # refused on write (DataError) rather than cut, and values the backend
    # generates itself (auto_now, the migration recorder) are whole seconds.
    keeps_subsecond_datetimes = _since((20, 1))
    supports_map_type = _since((21, 8))
    supports_low_cardinality = _since((19, 0))
    supports_ip_types = _since((19, 3))
    supports_big_ints = _since((21, 6))
    # accurateCast(x, T): refuses a value T cannot hold (CAST wraps integers);
    # 21.1 (before it, Cast checks the range with throwIf).
    has_accurate_cast = _since((21, 1))
    # The query analyzer (on by default from 24.3) scopes a SELECT alias to its
    # query; before it an alias is global: `upper(c.title) AS "name"` replaces
    # the joined "p"."name" everywhere in the query, so the compiler gives such
    # aliases an internal name (compiler._colliding_aliases).
    has_query_analyzer = _since((24, 3))
    supports_json_type = _since((25, 3))
    supports_json_functions = _since((19, 4))
    # groupBitAnd/Or/Xor (Django 6.1's BitAnd/BitOr/BitXor) take signed
    # integers from 23.5, unsigned ones only before.
    supports_signed_bit_aggregations = _since((23, 5))
    # 18.16's mutations cannot write an Enum column (its if() takes no Enum:
    # "Illegal columns Int16 and Int16"); checked there and on chDB 26.x, which
    # can. 19.1 is the next release line, not a verified first release.
    can_update_enum_columns = _since((19, 1))
    supports_over_clause = _since((21, 9))
    supports_frame_range_fixed_distance = _since((21, 9))
    supports_lightweight_delete = _since((23, 3))
    supports_table_check_constraints = _since((19, 14))
    supports_data_skipping_indexes = _since((20, 1))
    supports_rename_column = _since((20, 4))
    supports_ilike = _since((20, 6))
    # Table COMMENT (and system.tables.comment) arrived in 21.6; column comments
    # are gated with them (Django has one flag for both).
    supports_comments = _since((21, 6))
    supports_comments_inline = _since((21, 6))
    supports_if_exists_on_alter = _since((20, 1))
    supports_create_database_engine = _since((20, 5))
    supports_union_distinct = _since((19, 18))  # UNION ALL works everywhere
    # greatest()/least() skip NULL arguments from 24.12 (before: NULL).
    greatest_least_ignores_nulls = _since((24, 12))
    # JSONObject/JSONArray are built with toJSONString().
    has_json_object_function = _since((21, 7))
    # clickhouse_backend.models.functions / .aggregates that 18.16 lacks: the
    # release that added each (the ORM raises NotSupportedError before it).
    has_to_start_of_ten_minutes = _since((19, 1))
    has_to_year_week = _since((19, 11))
    has_uniq_combined64 = _since((19, 11))
    has_farm_fingerprint64 = _since((20, 12))
    has_uniq_theta = _since((21, 6))
    has_sha512 = _since((21, 9))  # as backend/django_functions.py gates Django's SHA512
    has_md4 = _since((21, 11))
    has_blake3 = _since((22, 10))
    has_tuple_element_default = _since((22, 11))
    has_keyed_siphash = _since((23, 2))
    has_ulid_functions = _since((23, 3))
    has_sha512_256 = _since((23, 7))
    has_generate_serial_id = _since((25, 1))
    has_generate_serial_id_start = _since((25, 10))
    # toStartOfWeek(d[, mode]) came with the week modes of toYearWeek.
    has_to_start_of_week = _since((19, 11))
    # models.functions.json: JSONLength needs the JSON functions (19.4, see
    # supports_json_functions); isValidJSON 19.16, toJSONString 21.7
    # (has_json_object_function), JSONMergePatch 23.10, dynamicType (the
    # Dynamic type) 24.5. JSONAllPaths, JSONAllPathsWithTypes, JSONSharedDataPaths
    # read the JSON type, which the backend casts a JSONField's text to: usable
    # without experimental settings from 25.3 (supports_json_type);
    # JSONAllValues 26.4. 18.16 has none of them, chDB 26.x all; the first
    # releases in between are ClickHouse's changelog's, not verified here.
    has_is_valid_json = _since((19, 16))
    has_json_merge_patch = _since((23, 10))
    has_dynamic_type = _since((24, 5))
    has_json_all_values = _since((26, 4))
    # QuerySet clauses (models/clauses.py). 18.16 has FINAL, SAMPLE, LIMIT n BY
    # and ARRAY JOIN; it refuses "LIMIT n OFFSET m BY" (syntax error) and fails
    # FINAL with SAMPLE ("Column 'intHash32(id)' already exists"). 19.x is where both parse; the first release
    # is not verified (the next release line after 18.16).
    supports_limit_by_offset = _since((19, 1))
    # QuerySet.with_totals(): GROUPING SETS and group_by_use_nulls (22.7).
    supports_grouping_sets = _since((22, 7))
    # SimpleAggregateFunction(f, T) columns (models.SimpleAggregateFunctionField).
    supports_simple_aggregate_function = _since((19, 8))
    # Schema options (models/ttl.py). Column codecs and TTL (table and column)
    # arrived in 19.x (18.16: syntax errors); moving TTL (TO DISK/VOLUME) with
    # storage policies in 20.1; TTL ... GROUP BY / WHERE rules, REMOVE TTL and
    # MODIFY COLUMN ... REMOVE in 20.x-21.x: gated at 21.1 (the first releases
    # are not verified here; chDB 26.x has them all).
    supports_column_codecs = _since((19, 1))
    supports_ttl = _since((19, 6))
    supports_ttl_move = _since((20, 1))
    supports_ttl_group_by = _since((21, 1))
    supports_remove_ttl = _since((21, 1))
    supports_projections = _since((21, 6))
    supports_ephemeral_columns = _since((22, 3))
    # CREATE DICTIONARY (models.Dictionary) and dictGet(): DDL dictionaries came
    # in 19.17, reading one as a table (SELECT FROM dict) in 20.x: gated at 20.5
    # (first release not verified here).
    supports_dictionaries = _since((20, 5))
    supports_final_with_sample = _since((19, 1))
    # Functions Django's own expressions are written with (backend/django_functions.py);
    # before each, an equivalent spelling or NotSupportedError.
    has_sign_function = _since((21, 1))
    has_pad_utf8 = _since((21, 8))  # leftPadUTF8/rightPadUTF8
    has_sha384 = _since((21, 11))
    has_string_agg = _since((26, 5))  # STRING_AGG, an alias of groupConcat
    has_repeat_function = _since((20, 1))
    has_atan2_function = _since((20, 1))
    # greatest()/least() take any number of arguments of any comparable type
    # from 20.4 (two numbers or dates before).
    has_variadic_greatest_least = _since((20, 4))
    # 18.16 computes modulo() on the default 0 of NULL rows first (division by
    # zero).
    has_null_safe_modulo = _since((20, 1))
    # 18.16 cannot CAST to Nullable(UUID).
    supports_nullable_uuid_cast = _since((20, 1))
    # substringUTF8 takes constant offset/length only before 20.x.
    substring_takes_expressions = _since((20, 1))
    # Durations are Int64 microseconds; sub-second intervals need 22.x.
    supports_subsecond_intervals = _since((22, 1))
    # Before 20.1 (ternary logic arrived in 19.x, fixed for many arguments in
    # 20.1) "NULL AND 0" is NULL, not 0: NOT (a = 1 AND a IS NOT NULL), Django's
    # exclude() of a nullable column, drops the rows where a is NULL.
    has_ternary_logic = _since((20, 1))
    # ClickHouse decorrelates subqueries (allow_experimental_correlated_subqueries)
    # from 25.x on; not a LIMIT in them.
    supports_correlated_subqueries = _since((25, 0))
    # Servers before 20.1 fail mutations whose condition has a subquery with
    # joins or aliases (in the background, after accepting them).
    mutations_take_subquery_joins = _since((20, 1))
    # system.mutations.latest_fail_reason appeared in 20.x; older servers retry
    # a failing mutation forever without saying so.
    reports_mutation_failures = _since((20, 1))
    # MODIFY COLUMN c REMOVE DEFAULT|COMMENT arrived in 20.12; servers before it
    # drop a column's DEFAULT when MODIFY COLUMN does not restate it, newer ones
    # keep it. (Gated at 21.1 to be safe.)
    supports_modify_column_remove = _since((21, 1))
    # 18.16's DDL worker races on ALTER ... ON CLUSTER of a Replicated* table
    # (two replicas of a shard both run it; the loser's worker thread ends on
    # "Node exists" and the node runs no ON CLUSTER DDL until restarted): the
    # schema editor sends it one replica per shard (backend/cluster_ddl.py).
    # Later releases check the shard's `executed` node again under the lock;
    # 19.1 is the next release line, not a verified first release.
    replicated_alter_on_cluster_is_safe = _since((19, 1))
    # ALTER TABLE ... MODIFY SETTING (engine settings).
    supports_modify_setting = _since((20, 1))

    @cached_property
    def emulates_null_for_empty_aggregates(self):
        """aggregate_functions_null_for_empty is asked for (the backend's default,
        or OPTIONS["settings"]) but the server does not know it (before 21.x):
        the aggregates are written if(count(x) = 0, NULL, agg(x)), NULL over no
        values as in SQL, not 0/nan."""
        name = "aggregate_functions_null_for_empty"
        requested = (self.connection.settings_dict.get("OPTIONS") or {}).get("settings") or {}
        if not int(requested.get(name, DEFAULT_SETTINGS[name])):
            return False
        return name not in self.connection.server_settings()

    @cached_property
    def test_now_utc_template(self):
        # now() is in the server's time zone (for chDB, the process's TZ,
        # which Django sets to TIME_ZONE): the current UTC wall time.
        if self.supports_datetime64:
            return "now64(6, 'UTC')"
        return "toTimeZone(now(), 'UTC')"

    supports_explaining_query_execution = _since((20, 6))

    supported_explain_formats = {"TEXT"}

    @cached_property
    def supports_transactions(self):
        # "fake_transaction" lets TestCase wrap tests in atomic blocks that do
        # nothing here (useful next to a transactional database).
        return bool(getattr(self.connection, "fake_transaction", False))

    @cached_property
    def supports_microsecond_precision(self):
        return self.supports_datetime64

    @cached_property
    def supports_expression_defaults(self):
        return True

    # re2 (ClickHouse's regex engine) has no backreferences.
    supports_regex_backreferencing = False

    # Django's own test suite (read only when Django runs it): the tests that
    # fail for ClickHouse reasons are listed with the suite's settings, in the
    # module that DATABASES[alias]["TEST"]["django_suite_listing"] names
    # (this repository's: tests/django_settings/skips.py).
    def _django_suite_listing(self, name, default):
        path = (self.connection.settings_dict.get("TEST") or {}).get("django_suite_listing")
        if not path:
            return default
        return getattr(import_module(path), name)(self.connection)

    @cached_property
    def django_test_skips(self):
        return self._django_suite_listing("django_test_skips", {})

    @cached_property
    def django_test_expected_failures(self):
        return self._django_suite_listing("django_test_expected_failures", set())
