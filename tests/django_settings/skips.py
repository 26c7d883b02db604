"""Django's own test suite on ClickHouse: tests that fail because of what
ClickHouse is, with the reason. The test settings (common.py) name this module
in DATABASES[alias]["TEST"]["django_suite_listing"], so that
DatabaseFeatures.django_test_skips (clickhouse_backend/backend/features.py)
returns django_test_skips(connection); Django reads it only when it runs its
own suite (scripts/django-tests.sh, docs/django-test-results.md).

MANUAL and GENERATED (kept up to date by tests/django_settings/triage.py from
the failures of a run) list (gate, reason, tests): gate None for every server
version, else the first version that lifted the limitation, or (since, before)
for a range (see gate_applies()). Set
DJANGO_CH_NO_SKIPS=1 to run everything.
"""

MUTATIONS = (
    "UPDATE/DELETE are ALTER TABLE mutations: the backend first counts the matching rows "
    "(ClickHouse does not report affected rows) and waits for the mutation, so the number "
    "and order of queries differ, and an UPDATE of a missing row cannot be detected from "
    "its result")
CORRELATED = ("ClickHouse cannot correlate a subquery with the outer query "
              "(Exists/OuterRef/Subquery referring to outer columns)")
ONE_JOIN = "ClickHouse before 20.1 allows only one JOIN per SELECT"
SECONDS = "DateTime has second precision before ClickHouse 20.1 (no DateTime64)"
EMULATED_EMPTY_AGGREGATES = (
    "before ClickHouse 21.x (no aggregate_functions_null_for_empty) the backend writes each "
    "aggregate as if(count(x) = 0, NULL, agg(x)) to give NULL over no values: the test counts "
    "how often an annotation's alias appears in the SQL")
OLD_DATETIME_DATA = (
    "setUpTestData stores Store.original_opening = 1945-04-25: ClickHouse before 20.1 has no "
    "DateTime64, and its DateTime holds 1970-01-01..2105-12-31 only (it would store "
    "1970-01-01), so the backend refuses the value with DataError")
DATE_RANGE = ("dates before 1970 need Date32/DateTime64 (ClickHouse 20.1/21.9); Date and "
              "DateTime start at 1970-01-01")
NULL_DATA_ERROR = ("ClickHouse before 20.1 reports NULL in a non-Nullable column as a range "
                   "error (DataError), not as a constraint violation (IntegrityError)")
KEY_COLUMNS = ("ClickHouse cannot change the type of a sorting/primary key column in place "
               "(the backend rebuilds such tables; replicated/ON CLUSTER ones are refused)")
NOT_NULL_ALTER = ("ClickHouse refuses MODIFY COLUMN from Nullable(T) to T unless a DEFAULT "
                  "replaces the NULLs (the backend supplies one, or rebuilds the table on "
                  "18.16)")
OLD_FUNCTIONS = "the SQL function does not exist in ClickHouse before 20.1"
NO_CONSTRAINTS = "ClickHouse enforces no unique or foreign key constraints (no IntegrityError)"
NO_RETURNING = ("ClickHouse has no INSERT ... RETURNING: ids are generated client-side and "
                "other values are not read back")
NO_JSON_FUNCTIONS = "JSON key lookups need the JSON functions of ClickHouse 19.4"
JOIN_TYPES = ("ClickHouse before 20.1 needs identical key types on both sides of a JOIN "
              "(e.g. a generic relation's UInt32 object_id and an Int64 id)")
UNION_DISTINCT = "UNION DISTINCT (union() without all=True) needs ClickHouse 19.18"

SNOWFLAKE_VALUES = ("ids are 63-bit snowflakes (ClickHouse has no auto-increment): the test "
                    "stores one in a 32-bit integer column (a GenericForeignKey's "
                    "PositiveIntegerField object_id, an IntegerField), which cannot hold it: "
                    "the backend refuses the write with DataError (system check "
                    "clickhouse.W001 warns about such fields)")
UNORDERED = ("ClickHouse returns rows in no particular order without ORDER BY (parts are "
             "read in parallel, joins are hashed); the test expects insertion order")
CORRELATED_MODERN = ("ClickHouse 26.x cannot decorrelate this subquery (correlated IN, "
                     "correlated GROUP BY keys or aggregate arguments, or fails to resolve "
                     "the outer column)")
UNION_SUBQUERY = ("ClickHouse 26.x cannot decorrelate a UNION in a scalar subquery "
                  "(\"Method getResultType is not supported for UNION query tree node\")")
OLD_JOIN_KEYS = ("ClickHouse before 20.1 gives the right table's key the left key's value in "
                 "a LEFT JOIN row without a match (not NULL), so it sorts as a value")
OLD_DECIMALS = ("ClickHouse before 20.1 mixes Decimal and Float64 in no function (greatest) "
                "and truncates avg() of a Decimal to the column's scale")
OLD_COUNT_NULL = ("ClickHouse 18.16 gives NULL, not 0, for COUNT(NULL) (an empty filter) in "
                  "a grouped LEFT JOIN")
OLD_DATE_STRING = ("ClickHouse before 20.1 cannot compare a DateTime column with a date-only "
                   "string ('2020-01-01')")
OLD_JOIN_FILTER = ("ClickHouse 18.16 fails a filter on the joined table's key "
                   "(\"Size of filter doesn't match size of column\")")

UNIQUE_NOT_CREATED = (
    "ClickHouse has no UNIQUE or FOREIGN KEY constraints: the schema editor creates none for "
    "unique=True, unique_together, UniqueConstraint or a ForeignKey, so introspection "
    "(get_constraints) and inspectdb do not find the one the test looks for")

# Listed by hand: (gate, reason, tests); gate None = every server version,
# else the first version without the limitation.
SNOWFLAKE_KEYS = ("auto fields hold 63-bit snowflake ids (ClickHouse has no auto-increment), so "
                  "they and the foreign keys to them are Int64 whatever the field's nominal size")

# schema, migrations, introspection, inspectdb
NO_INDEXES = ("ClickHouse has no secondary (B-tree) indexes: a plain Django Index, db_index or "
              "index_together is accepted and not created (only clickhouse_backend.models.Index "
              "data skipping indexes are), so introspection does not list it and the database "
              "does not validate its expression")
NO_DEFERRED_SQL = ("no deferred index/foreign key/unique statements: ClickHouse has none of "
                   "them, so the schema editor defers nothing")
NO_TRANSACTIONS = "ClickHouse has no transactions: a failing migration step is not rolled back"
MISSING_AS_DEFAULT = ("ClickHouse fills a column left out of INSERT with its default (0): a "
                      "non-auto primary key left out is no error")
ONE_STRING_TYPE = ("ClickHouse has one String type for text and bytes, with no length: "
                   "CharField/BinaryField columns introspect as TextField without max_length")
CH_SQL_SPELLING = ("expressions are compiled to ClickHouse's functions (lowerUTF8, not LOWER)")
RAW_ENGINE_LESS = ("the test creates a table without ENGINE (raw SQL): ClickHouse accepts that "
                   "from 22.2 (default_table_engine)")
DROP_VIEW = ("the test drops a view with DROP VIEW, which ClickHouse has from 20.3/20.4 "
             "(DROP TABLE before)")
RAW_DELETE = ("the test runs DELETE FROM without WHERE (raw SQL): ClickHouse's DELETE FROM "
              "(23.3+) needs a WHERE clause")
RAW_UPDATE = ("the test runs CREATE TABLE without ENGINE (accepted from 22.2) and a raw SQL "
              "UPDATE statement, which ClickHouse runs only as a lightweight update (25.7+) "
              "on tables with the block number column enabled")
CHECK_CONSTRAINTS = "CHECK constraints need ClickHouse 19.14 (NotSupportedError before)"
BOOL_TYPE = ("ClickHouse has a Bool type from 21.12 and IPv4/IPv6 from 19.3 (UInt8 and String "
             "before, introspected as such)")
AWARE_RAW_DATETIMES = (
    "TimeField is a String column ('HH:MM:SS[.ffffff]': ClickHouse has no time-of-day type; "
    "Time is experimental from 25.6): a raw cursor reads it back as text, and the test calls "
    ".time() on what it reads")
CORRELATED_LIMIT = ("ClickHouse 26.x cannot decorrelate a correlated subquery with a LIMIT "
                    "other than the first row (\"'Limit' step is not supported\")")

MANUAL = [
    # queries, aggregation, annotations, expressions, lookup, ordering, delete...
    (None, SNOWFLAKE_VALUES, [
        "aggregation_regress.tests.AggregationTests.test_aggregation_with_generic_reverse_relation",
        "delete.tests.OnDeleteTests.test_restrict_gfk_no_fast_delete",
        "queries.tests.ValuesSubqueryTests.test_values_in_subquery",
    ]),
    (None, MUTATIONS, [
        # Counts the queries that start with UPDATE (here ALTER TABLE ... UPDATE).
        "get_or_create.tests.UpdateOrCreateTests."
        "test_update_only_defaults_and_pre_save_fields_when_local_fields",
    ]),
    (None, UNORDERED, [
        "expressions.test_queryset_values.ValuesExpressionsTests.test_values_expression",
    ]),
    # From 21.9: Django skips it before (supports_over_clause), a listing there is dead.
    (((21, 9), None), CORRELATED_LIMIT, [
        "expressions_window.tests.WindowFunctionTests.test_subquery_row_range_rank",
    ]),
    (None, CORRELATED_MODERN, [
        "aggregation.tests.AggregateTestCase.test_aggregation_nested_subquery_outerref",
        "aggregation.test_filter_argument.FilteredAggregateTests."
        "test_filtered_aggregate_ref_multiple_subquery_annotation",
        "annotations.tests.NonAggregateAnnotationTestCase."
        "test_annotation_subquery_and_aggregate_values_chaining",
        "lookup.tests.LookupTests.test_nested_outerref_lhs",
        # Nested OuterRef (passed by accident before the outer table was
        # aliased: the reference resolved to the subquery's own table).
        "expressions.tests.BasicExpressionsTests.test_annotation_with_deeply_nested_outerref",
        "expressions.tests.BasicExpressionsTests.test_annotation_with_nested_outerref",
        "expressions.tests.BasicExpressionsTests.test_nested_outerref_with_function",
        "expressions.tests.BasicExpressionsTests.test_nested_subquery_outer_ref_2",
        "expressions.tests.BasicExpressionsTests.test_nested_subquery_outer_ref_with_autofield",
        "queries.tests.ExcludeTests.test_subquery_exclude_outerref",
        # A correlated LIMIT (UNION: not rewritten as argMin/argMax).
        "queries.test_qs_combinators.QuerySetSetOperationTests."
        "test_union_in_subquery_related_outerref",
    ]),
    (None, UNION_SUBQUERY, [
        "queries.test_qs_combinators.QuerySetSetOperationTests.test_union_in_subquery",
    ]),
    # servers before 25.0 refuse the correlated subquery before its other failure shows
    ((25, 0), CORRELATED, [
        "model_fields.test_jsonfield.TestQuerying.test_nested_key_transform_on_subquery",
        "model_fields.test_jsonfield.TestQuerying.test_obj_subquery_lookup",
        "queries.test_qs_combinators.QuerySetSetOperationTests.test_union_in_subquery",
        "queries.test_qs_combinators.QuerySetSetOperationTests.test_union_in_subquery_related_outerref",
        "queries.test_qs_combinators.QuerySetSetOperationTests."
        "test_union_with_values_list_on_annotated_and_unannotated",
        "queries.tests.Queries1Tests.test_union_values_subquery",
    ]),
    ((20, 1), OLD_JOIN_KEYS, [
        "queries.tests.Ticket14056Tests.test_ticket_14056",
    ]),
    ((20, 1), OLD_COUNT_NULL, [
        "aggregation.test_filter_argument.FilteredAggregateTests."
        "test_filtered_aggregate_empty_condition",
    ]),
    ((20, 1), OLD_JOIN_FILTER, [
        "queries.tests.ReverseJoinTrimmingTest.test_reverse_trimming",
    ]),
    ((25, 0), CORRELATED, [
        "expressions.tests.FTimeDeltaTests.test_time_subquery_subtraction",
        "queries.tests.Queries1Tests.test_ticket7096",  # exclude() across the m2m: EXISTS
        "expressions.tests.BasicExpressionsTests.test_annotation_with_outerref",
        "annotations.tests.NonAggregateAnnotationTestCase."
        "test_annotation_subquery_outerref_transform",
    ]),
    ((20, 1), DATE_RANGE, [
        "aggregation.tests.AggregateTestCase.test_aggregate_transform",
        "aggregation.tests.AggregateTestCase.test_group_by_transform_column",
    ]),
    (None, NO_INDEXES, [
        'migrations.test_operations.OperationTests.test_add_func_index',
        'migrations.test_operations.OperationTests.test_add_index',
        'migrations.test_operations.OperationTests.test_alter_field_with_func_index',
        'migrations.test_operations.OperationTests.test_alter_field_with_index',
        'migrations.test_operations.OperationTests.test_alter_index_together',
        'migrations.test_operations.OperationTests.test_alter_index_together_remove_with_unique_together',
        'migrations.test_operations.OperationTests.test_remove_func_index',
        'migrations.test_operations.OperationTests.test_remove_index',
        'migrations.test_operations.OperationTests.test_rename_field_index_together',
        'migrations.test_operations.OperationTests.test_rename_index',
        'migrations.test_operations.OperationTests.test_rename_index_unnamed_index',
        'migrations.test_operations.OperationTests.test_rename_index_unnamed_index_with_unique_index',
        'introspection.tests.IntrospectionTests.test_get_constraints_index_types',
        'schema.tests.SchemaTests.test_add_remove_index',
        'schema.tests.SchemaTests.test_alter_field_add_index_to_integerfield',
        'schema.tests.SchemaTests.test_composed_desc_func_index_with_fk',
        'schema.tests.SchemaTests.test_composed_desc_index_with_fk',
        'schema.tests.SchemaTests.test_composed_func_index_with_fk',
        'schema.tests.SchemaTests.test_composed_func_transform_index_with_fk',
        'schema.tests.SchemaTests.test_composed_index_with_fk',
        'schema.tests.SchemaTests.test_composite_func_index',
        'schema.tests.SchemaTests.test_composite_func_index_field_and_expression',
        'schema.tests.SchemaTests.test_func_index_calc',
        'schema.tests.SchemaTests.test_func_index_cast',
        'schema.tests.SchemaTests.test_func_index_f',
        'schema.tests.SchemaTests.test_func_index_f_decimalfield',
        'schema.tests.SchemaTests.test_func_index_json_key_transform',
        'schema.tests.SchemaTests.test_func_index_json_key_transform_cast',
        'schema.tests.SchemaTests.test_func_index_lookups',
        'schema.tests.SchemaTests.test_func_index_nondeterministic',
        'schema.tests.SchemaTests.test_func_unique_constraint_nondeterministic',
        'schema.tests.SchemaTests.test_index_together',
        'schema.tests.SchemaTests.test_indexes',
        'schema.tests.SchemaTests.test_remove_constraints_capital_letters',
        'schema.tests.SchemaTests.test_remove_db_index_doesnt_remove_custom_indexes',
        'schema.tests.SchemaTests.test_text_field_with_db_index',
    ]),
    (None, NO_CONSTRAINTS, [
        'migrations.test_operations.OperationTests.test_rename_field_unique_together',
        'schema.tests.SchemaTests.test_alter_int_pk_to_int_unique',
        'schema.tests.SchemaTests.test_unique',
        'schema.tests.SchemaTests.test_unique_together',
    ]),
    (None, NO_DEFERRED_SQL, [
        'migrations.test_commands.MigrateTests.test_migrate_syncdb_app_label',
        'migrations.test_commands.MigrateTests.test_migrate_syncdb_deferred_sql_executed_with_schemaeditor',
        'schema.tests.SchemaTests.test_rename_column_renames_deferred_sql_references',
        'schema.tests.SchemaTests.test_rename_table_renames_deferred_sql_references',
    ]),
    (None, NO_TRANSACTIONS, [
        'migrations.test_executor.ExecutorTests.test_atomic_operation_in_non_atomic_migration',
        'migrations.test_operations.OperationTests.test_run_python_atomic',
    ]),
    (None, MISSING_AS_DEFAULT, [
        'schema.tests.SchemaTests.test_alter_auto_field_to_integer_field',
    ]),
    (None, ONE_STRING_TYPE, [
        'introspection.tests.IntrospectionTests.test_get_table_description_col_lengths',
        'introspection.tests.IntrospectionTests.test_get_table_description_types',
        'inspectdb.tests.InspectDBTestCase.test_char_field_unlimited',
    ]),
    (None, CH_SQL_SPELLING, [
        'schema.tests.SchemaTests.test_func_index',
    ]),
    (None, AWARE_RAW_DATETIMES, [
        'schema.tests.SchemaTests.test_add_datefield_and_datetimefield_use_effective_default',
    ]),
    ((21, 12), BOOL_TYPE, [
        'schema.tests.SchemaTests.test_add_field_temp_default_boolean',
        'inspectdb.tests.InspectDBTestCase.test_field_types',
        'inspectdb.tests.InspectDBTestCase.test_number_field_types',
    ]),
    ((19, 14), CHECK_CONSTRAINTS, [
        'migrations.test_operations.OperationTests.test_add_constraint',
        'migrations.test_operations.OperationTests.test_remove_constraint',
    ]),
    ((22, 2), RAW_ENGINE_LESS, [
        'introspection.tests.IntrospectionTests.test_django_table_names',
        'migrations.test_operations.OperationTests.test_run_sql_params',
        'migrations.test_operations.OperationTests.test_separate_database_and_state',
    ]),
    ((20, 4), DROP_VIEW, [
        'introspection.tests.IntrospectionTests.test_table_names_with_views',
        'inspectdb.tests.InspectDBTransactionalTests.test_include_views',
    ]),
    (None, RAW_UPDATE, [
        'migrations.test_operations.OperationTests.test_run_sql',
    ]),
    (None, RAW_DELETE, [
        'migrations.test_operations.OperationTests.test_alter_unique_together',
    ]),
    ((25, 0), CORRELATED, [
        "lookup.tests.LookupQueryingTests.test_filter_subquery_lhs",
    ]),
    (None, NO_CONSTRAINTS, [
        # A duplicate primary key is accepted: no error to roll back from.
        "get_or_create.tests.GetOrCreateTestsWithManualPKs.test_savepoint_rollback",
    ]),
]

# model_fields, db_functions, datetimes, dates: checked on 18.16 and chDB 26.x
# with DJANGO_CH_NO_SKIPS=1 (the backend's own tests of the same behaviour are
# tests/backend/test_fields_functions.py).
YEAR_RANGE = ("ClickHouse dates cover the years 1900-2299 only (Date32/DateTime64; 1970-2106 "
              "before 20.1): the test stores the year 999")
JSON_KEY_PARAMS = ("JSON keys go to ClickHouse's JSON functions as plain query parameters (no "
                   "JSON path text): the test looks for a JSON-quoted path in str(query)")
JSON_NOT_VALIDATED = ("JSONField is a String column: ClickHouse does not check that the "
                      "inserted text is valid JSON")
TO_JSON_STRING = "JSONArray/JSONObject are built with toJSONString() of ClickHouse 21.7"
PAD = "LPad/RPad need leftPadUTF8/rightPadUTF8 of ClickHouse 21.8"
SHA512_FN = "SHA512 needs the SHA512 function of ClickHouse 21.9"
SHA384_FN = "SHA384 needs the SHA384 function of ClickHouse 21.11"
DISTINCT_JOIN = ("ClickHouse before 19.6 applies DISTINCT per stream when the query has a "
                 "JOIN: duplicate rows")

MANUAL += [
    (None, SNOWFLAKE_KEYS, [
        "model_fields.test_autofield.AutoFieldTests.test_rel_db_type",
        "model_fields.test_autofield.SmallAutoFieldTests.test_rel_db_type",
        "schema.tests.SchemaTests.test_autofield_to_o2o",
        "schema.tests.SchemaTests.test_m2m",
        "schema.tests.SchemaTests.test_m2m_create",
        "schema.tests.SchemaTests.test_m2m_create_custom",
        "schema.tests.SchemaTests.test_m2m_create_inherited",
        "schema.tests.SchemaTests.test_m2m_create_through",
        "schema.tests.SchemaTests.test_m2m_create_through_custom",
        "schema.tests.SchemaTests.test_m2m_create_through_inherited",
        "schema.tests.SchemaTests.test_m2m_custom",
        "schema.tests.SchemaTests.test_m2m_inherited",
    ]),
    (None, YEAR_RANGE, [
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_week_before_1000",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_week_before_1000",
    ]),
    ((25, 0), CORRELATED, [
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_outerref",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_outerref",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_subquery_with_parameters",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_subquery_with_parameters",
    ]),
    (None, JSON_KEY_PARAMS, [
        "model_fields.test_jsonfield.TestQuerying.test_key_sql_injection_escape",
    ]),
    (None, JSON_NOT_VALIDATED, [
        "model_fields.test_jsonfield.JSONFieldTests.test_db_check_constraints",
    ]),
    (None, NO_CONSTRAINTS, [
        "model_fields.test_filefield.FileFieldTests.test_unique_when_same_filename",
    ]),
    ((19, 4), NO_JSON_FUNCTIONS, [
        "model_fields.test_jsonfield.TestQuerying.test_deep_lookup_array",
        "model_fields.test_jsonfield.TestQuerying.test_deep_lookup_mixed",
        "model_fields.test_jsonfield.TestQuerying.test_deep_lookup_objs",
        "model_fields.test_jsonfield.TestQuerying.test_deep_lookup_transform",
        "model_fields.test_jsonfield.TestQuerying.test_deep_values",
        "model_fields.test_jsonfield.TestQuerying.test_expression_wrapper_key_transform",
        "model_fields.test_jsonfield.TestQuerying.test_has_any_keys",
        "model_fields.test_jsonfield.TestQuerying.test_has_key",
        "model_fields.test_jsonfield.TestQuerying.test_has_key_deep",
        "model_fields.test_jsonfield.TestQuerying.test_has_key_list",
        "model_fields.test_jsonfield.TestQuerying.test_has_key_literal_lookup",
        "model_fields.test_jsonfield.TestQuerying.test_has_key_null_value",
        "model_fields.test_jsonfield.TestQuerying.test_has_key_number",
        "model_fields.test_jsonfield.TestQuerying.test_has_keys",
        "model_fields.test_jsonfield.TestQuerying.test_isnull_key",
        "model_fields.test_jsonfield.TestQuerying.test_isnull_key_or_none",
        "model_fields.test_jsonfield.TestQuerying.test_join_key_transform_annotation_expression",
        "model_fields.test_jsonfield.TestQuerying.test_key_endswith",
        "model_fields.test_jsonfield.TestQuerying.test_key_escape",
        "model_fields.test_jsonfield.TestQuerying.test_key_icontains",
        "model_fields.test_jsonfield.TestQuerying.test_key_iendswith",
        "model_fields.test_jsonfield.TestQuerying.test_key_iexact",
        "model_fields.test_jsonfield.TestQuerying.test_key_in",
        "model_fields.test_jsonfield.TestQuerying.test_key_iregex",
        "model_fields.test_jsonfield.TestQuerying.test_key_istartswith",
        "model_fields.test_jsonfield.TestQuerying.test_key_quoted_string",
        "model_fields.test_jsonfield.TestQuerying.test_key_regex",
        "model_fields.test_jsonfield.TestQuerying.test_key_sql_injection_escape",
        "model_fields.test_jsonfield.TestQuerying.test_key_startswith",
        "model_fields.test_jsonfield.TestQuerying.test_key_text_transform_char_lookup",
        "model_fields.test_jsonfield.TestQuerying.test_key_text_transform_from_lookup",
        "model_fields.test_jsonfield.TestQuerying.test_key_transform_annotation_expression",
        "model_fields.test_jsonfield.TestQuerying.test_key_transform_expression",
        "model_fields.test_jsonfield.TestQuerying.test_key_transform_raw_expression",
        "model_fields.test_jsonfield.TestQuerying.test_key_values",
        "model_fields.test_jsonfield.TestQuerying.test_key_values_boolean",
        "model_fields.test_jsonfield.TestQuerying.test_literal_annotation_filtering",
        "model_fields.test_jsonfield.TestQuerying.test_lookup_exclude",
        "model_fields.test_jsonfield.TestQuerying.test_lookup_exclude_nonexistent_key",
        "model_fields.test_jsonfield.TestQuerying.test_lookups_special_chars",
        "model_fields.test_jsonfield.TestQuerying.test_lookups_special_chars_double_quotes",
        "model_fields.test_jsonfield.TestQuerying.test_lookups_with_key_transform",
        "model_fields.test_jsonfield.TestQuerying.test_nested_key_transform_annotation_expression",
        "model_fields.test_jsonfield.TestQuerying.test_nested_key_transform_expression",
        "model_fields.test_jsonfield.TestQuerying.test_nested_key_transform_on_subquery",
        "model_fields.test_jsonfield.TestQuerying.test_nested_key_transform_raw_expression",
        "model_fields.test_jsonfield.TestQuerying.test_none_key",
        "model_fields.test_jsonfield.TestQuerying.test_none_key_and_exact_lookup",
        "model_fields.test_jsonfield.TestQuerying.test_none_key_exclude",
        "model_fields.test_jsonfield.TestQuerying.test_obj_subquery_lookup",
        "model_fields.test_jsonfield.TestQuerying.test_order_grouping_custom_decoder",
        "model_fields.test_jsonfield.TestQuerying.test_ordering_by_transform",
        "model_fields.test_jsonfield.TestQuerying.test_ordering_grouping_by_count",
        "model_fields.test_jsonfield.TestQuerying.test_ordering_grouping_by_key_transform",
        "model_fields.test_jsonfield.TestQuerying.test_shallow_list_lookup",
        "model_fields.test_jsonfield.TestQuerying.test_shallow_lookup_obj_target",
        "model_fields.test_jsonfield.TestQuerying.test_shallow_obj_lookup",
        "model_fields.test_jsonfield.TestQuerying.test_usage_in_subquery",
    ]),
    ((19, 6), DISTINCT_JOIN, [
        "datetimes.tests.DateTimesTests.test_related_model_traverse",
    ]),
    ((20, 1), ONE_JOIN, [
        "model_fields.test_booleanfield.BooleanFieldTests.test_select_related",
        "model_fields.test_uuid.TestAsPrimaryKey.test_two_level_foreign_keys",
    ]),
    ((21, 7), TO_JSON_STRING, [
        "db_functions.json.test_json_array.JSONArrayTests.test_basic",
        "db_functions.json.test_json_array.JSONArrayTests.test_empty",
        "db_functions.json.test_json_array.JSONArrayTests.test_expressions",
        "db_functions.json.test_json_array.JSONArrayTests.test_nested_empty_json_array",
        "db_functions.json.test_json_array.JSONArrayTests.test_nested_json_array",
        "db_functions.json.test_json_array.JSONArrayTests.test_order_by_key",
        "db_functions.json.test_json_array.JSONArrayTests.test_order_by_nested_key",
        "db_functions.json.test_json_array.JSONArrayTests.test_textfield",
    ]),
    ((21, 8), PAD, [
        "db_functions.text.test_pad.PadTests.test_combined_with_length",
        "db_functions.text.test_pad.PadTests.test_pad",
    ]),
    ((21, 9), SHA512_FN, [
        "db_functions.text.test_sha512.SHA512Tests.test_basic",
        "db_functions.text.test_sha512.SHA512Tests.test_transform",
    ]),
    ((21, 11), SHA384_FN, [
        "db_functions.text.test_sha384.SHA384Tests.test_basic",
        "db_functions.text.test_sha384.SHA384Tests.test_transform",
    ]),
]

QUERY_FACTS = ("connection.queries entries carry ClickHouse's query_id, read_rows and read_bytes "
               "besides Django's sql and time (docs/django.md): the test expects those two keys only")
MANUAL += [
    (None, QUERY_FACTS, [
        "backends.tests.BackendTestCase.test_queries",
    ]),
]

# BEGIN GENERATED by tests/django_settings/triage.py
GENERATED = [
    ((19, 4), NO_JSON_FUNCTIONS, [
        'expressions.tests.BasicExpressionsTests.test_update_jsonfield_case_when_key_is_null',
        'queries.test_bulk_update.BulkUpdateTests.test_json_field',
    ]),
    ((19, 18), UNION_DISTINCT, [
        'aggregation.tests.AggregateAnnotationPruningTests.test_aggregate_combined_queries',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_combining_multiple_models',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_count_union',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_count_union_empty_result',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_count_union_with_select_related',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_exists_union',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_exists_union_empty_result',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_get_union',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_limits',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_order_by_same_type',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_order_raises_on_non_selected_column',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_ordering',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_ordering_by_alias',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_ordering_by_f_expression',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_ordering_by_f_expression_and_alias',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_ordering_subqueries',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_simple_union',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_all_none_slice',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_combined_slice_compound_empty',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_distinct',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_empty_filter_slice',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_in_subquery',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_in_subquery_related_outerref',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_in_with_ordering',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_in_with_ordering_and_slice',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_multiple_models_with_values_list_and_annotations',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_multiple_models_with_values_list_and_order',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_multiple_models_with_values_list_and_order_by_extra_select',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_nested',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_none',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_none_slice',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_order_with_null_first_last',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_slice_compound_empty',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_slice_index',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_empty_qs',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_extra_and_values_list',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_field_and_annotation_values',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_first',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_select_related_and_first',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_select_related_and_order',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_two_annotated_values_list',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_values',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_values_list_and_order',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_values_list_and_order_on_annotation',
        'queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_values_list_on_annotated_and_unannotated',
        'queries.tests.Queries1Tests.test_union_values_subquery',
    ]),
    ((20, 1), DATE_RANGE, [
        'aggregation.tests.AggregateTestCase.test_even_more_aggregate',
    ]),
    ((20, 1), MUTATIONS, [
        'delete.tests.FastDeleteTests.test_fast_delete_all',
    ]),
    ((20, 1), ONE_JOIN, [
        'aggregation.test_filter_argument.FilteredAggregateTests.test_case_aggregate',
        'aggregation.test_filter_argument.FilteredAggregateTests.test_filtered_aggregate_on_annotate',
        'aggregation.test_filter_argument.FilteredAggregateTests.test_filtered_reused_subquery',
        'aggregation.test_filter_argument.FilteredAggregateTests.test_plain_annotate',
        'aggregation.test_filter_argument.FilteredAggregateTests.test_related_aggregates_m2m',
        'aggregation.test_filter_argument.FilteredAggregateTests.test_related_aggregates_m2m_and_fk',
        'aggregation.tests.AggregateAnnotationPruningTests.test_aggregate_reference_lookup_rhs',
        'aggregation.tests.AggregateAnnotationPruningTests.test_aggregate_reference_lookup_rhs_iter',
        'aggregation_regress.tests.JoinPromotionTests.test_ticket_21150',
        'annotations.tests.AliasTests.test_alias_default_alias_expression',
        'delete.tests.DeletionTests.test_delete_with_keeping_parents',
        'delete.tests.DeletionTests.test_delete_with_keeping_parents_relationships',
        'delete.tests.DeletionTests.test_deletion_order',
        'delete.tests.OnDeleteTests.test_cascade_from_child',
        'delete.tests.OnDeleteTests.test_cascade_from_parent',
        'delete.tests.OnDeleteTests.test_inheritance_cascade_down',
        'delete.tests.OnDeleteTests.test_inheritance_cascade_up',
        'delete.tests.OnDeleteTests.test_setnull_from_child',
        'delete.tests.OnDeleteTests.test_setnull_from_parent',
        'expressions.tests.BasicExpressionsTests.test_filter_with_join',
        'expressions.tests.BasicExpressionsTests.test_subquery_references_joined_table_twice',
        'expressions.tests.IterableLookupInnerExpressionsTests.test_expressions_range_lookups_join_choice',
        'lookup.tests.LookupTests.test_lookup_collision',
        'lookup.tests.LookupTests.test_values',
        'lookup.tests.LookupTests.test_values_list',
        'ordering.tests.OrderingTests.test_default_ordering',
        'ordering.tests.OrderingTests.test_default_ordering_does_not_affect_group_by',
        'ordering.tests.OrderingTests.test_order_by_grandparent_fk_with_expression_in_default_ordering',
        'ordering.tests.OrderingTests.test_order_by_ptr_field_with_default_ordering_by_expression',
        'ordering.tests.OrderingTests.test_order_by_self_referential_fk',
        'ordering.tests.OrderingTests.test_related_ordering_duplicate_table_reference',
        'ordering.tests.OrderingTests.test_reverse_meta_ordering_pure',
        'ordering.tests.OrderingTests.test_reversed_ordering',
        'queries.tests.ConditionalTests.test_infinite_loop',
        'queries.tests.DisjunctionPromotionTests.test_disjunction_promotion_select_related',
        'queries.tests.DisjunctiveFilterTests.test_ticket7872',
        'queries.tests.Exclude15786.test_ticket15786',
        'queries.tests.NullJoinPromotionOrTest.test_ticket_17886',
        'queries.tests.NullJoinPromotionOrTest.test_ticket_21366',
        'queries.tests.NullJoinPromotionOrTest.test_ticket_21748',
        'queries.tests.NullJoinPromotionOrTest.test_ticket_21748_complex_filter',
        'queries.tests.NullJoinPromotionOrTest.test_ticket_21748_double_negated_and',
        'queries.tests.NullJoinPromotionOrTest.test_ticket_21748_double_negated_or',
        'queries.tests.NullableRelOrderingTests.test_join_already_in_query',
        'queries.tests.NullableRelOrderingTests.test_ticket10028',
        'queries.tests.Queries1Tests.test_common_mixed_case_foreign_keys',
        'queries.tests.Queries1Tests.test_double_exclude',
        'queries.tests.Queries1Tests.test_nested_exclude',
        'queries.tests.Queries1Tests.test_ticket1050',
        'queries.tests.Queries1Tests.test_ticket1801',
        'queries.tests.Queries1Tests.test_ticket19672',
        'queries.tests.Queries1Tests.test_ticket2091',
        'queries.tests.Queries1Tests.test_ticket2253',
        'queries.tests.Queries1Tests.test_ticket2306',
        'queries.tests.Queries1Tests.test_ticket2496',
        'queries.tests.Queries1Tests.test_ticket3037',
        'queries.tests.Queries1Tests.test_ticket4464',
        'queries.tests.Queries1Tests.test_ticket6154',
        'queries.tests.Queries1Tests.test_ticket7277',
        'queries.tests.Queries1Tests.test_ticket8439',
        'queries.tests.Queries1Tests.test_ticket9926',
        'queries.tests.Queries1Tests.test_ticket_10790_3',
        'queries.tests.Queries1Tests.test_ticket_10790_4',
        'queries.tests.Queries1Tests.test_ticket_10790_5',
        'queries.tests.Queries1Tests.test_ticket_10790_6',
        'queries.tests.Queries1Tests.test_ticket_20250',
        'queries.tests.Queries1Tests.test_tickets_2076_7256',
        'queries.tests.Queries1Tests.test_tickets_2080_3592',
        'queries.tests.Queries1Tests.test_tickets_2874_3002',
        'queries.tests.Queries1Tests.test_tickets_5324_6704',
        'queries.tests.Queries5Tests.test_ordering',
        'queries.tests.Queries5Tests.test_ticket9848',
        'queries.tests.Queries6Tests.test_multiple_columns_with_the_same_name_slice',
        'queries.tests.Queries6Tests.test_tickets_8921_9188',
        'queries.tests.QuerySetBitwiseOperationTests.test_conflicting_aliases_during_combine',
        'queries.tests.SelectRelatedTests.test_tickets_3045_3288',
        'queries.tests.Ticket20955Tests.test_ticket_20955',
        'queries.tests.UnionTests.test_AB_ACB',
        'queries.tests.UnionTests.test_BAB_BAC',
        'queries.tests.UnionTests.test_BAB_BACB',
        'queries.tests.UnionTests.test_BA_BCA__BAB_BAC_BCA',
    ]),
    ((21, 1), EMULATED_EMPTY_AGGREGATES, [
        'aggregation.tests.AggregateAnnotationPruningTests.test_referenced_aggregate_annotation_kept',
    ]),
    ((20, 1), OLD_DATETIME_DATA, [
        'aggregation.tests.AggregateTestCase',
    ]),
    ((25, 0), CORRELATED, [
        'aggregation.test_filter_argument.FilteredAggregateTests.test_filtered_aggregate_on_exists',
        'aggregation.test_filter_argument.FilteredAggregateTests.test_filtered_aggregate_ref_multiple_subquery_annotation',
        'aggregation.test_filter_argument.FilteredAggregateTests.test_filtered_aggregate_ref_subquery_annotation',
        'aggregation.test_filter_argument.FilteredAggregateTests.test_filtered_aggregrate_ref_in_subquery_annotation',
        'aggregation.tests.AggregateAnnotationPruningTests.test_referenced_composed_subquery_requires_wrapping',
        'aggregation.tests.AggregateAnnotationPruningTests.test_referenced_subquery_requires_wrapping',
        'aggregation.tests.AggregateTestCase.test_aggregation_exists_multivalued_outeref',
        'aggregation.tests.AggregateTestCase.test_aggregation_subquery_annotation',
        'aggregation.tests.AggregateTestCase.test_exists_extra_where_with_aggregate',
        'aggregation.tests.AggregateTestCase.test_group_by_exists_annotation',
        'aggregation.tests.AggregateTestCase.test_group_by_subquery_annotation',
        'aggregation_regress.tests.AggregationTests.test_annotate_and_join',
        'aggregation_regress.tests.AggregationTests.test_annotate_with_extra',
        'annotations.tests.NonAggregateAnnotationTestCase.test_annotation_exists_aggregate_values_chaining',
        'annotations.tests.NonAggregateAnnotationTestCase.test_annotation_filter_with_subquery',
        'expressions.tests.BasicExpressionsTests.test_aggregate_subquery_annotation',
        'expressions.tests.BasicExpressionsTests.test_annotation_with_deeply_nested_outerref',
        'expressions.tests.BasicExpressionsTests.test_annotation_with_nested_outerref',
        'expressions.tests.BasicExpressionsTests.test_annotations_within_subquery',
        'expressions.tests.BasicExpressionsTests.test_boolean_expression_combined',
        'expressions.tests.BasicExpressionsTests.test_boolean_expression_combined_with_empty_Q',
        'expressions.tests.BasicExpressionsTests.test_boolean_expression_in_Q',
        'expressions.tests.BasicExpressionsTests.test_case_in_filter_if_boolean_output_field',
        'expressions.tests.BasicExpressionsTests.test_exists_in_filter',
        'expressions.tests.BasicExpressionsTests.test_nested_outerref_with_function',
        'expressions.tests.BasicExpressionsTests.test_nested_subquery',
        'expressions.tests.BasicExpressionsTests.test_nested_subquery_join_outer_ref',
        'expressions.tests.BasicExpressionsTests.test_nested_subquery_outer_ref_2',
        'expressions.tests.BasicExpressionsTests.test_nested_subquery_outer_ref_with_autofield',
        'expressions.tests.BasicExpressionsTests.test_order_by_exists',
        'expressions.tests.BasicExpressionsTests.test_outerref_mixed_case_table_name',
        'expressions.tests.BasicExpressionsTests.test_outerref_with_operator',
        'expressions.tests.BasicExpressionsTests.test_slicing_of_outerref',
        'expressions.tests.BasicExpressionsTests.test_subquery',
        'expressions.tests.BasicExpressionsTests.test_subquery_filter_by_aggregate',
        'expressions.tests.BasicExpressionsTests.test_subquery_in_filter',
        'expressions.tests.ExistsTests.test_optimizations',
        'expressions.tests.IterableLookupInnerExpressionsTests.test_relabeled_clone_rhs',
        'lookup.tests.LookupQueryingTests.test_filter_exists_lhs',
        'lookup.tests.LookupTests.test_exact_exists',
        'lookup.tests.LookupTests.test_nested_outerref_lhs',
        'ordering.tests.OrderingTests.test_orders_nulls_first_on_filtered_subquery',
        'queries.test_query.TestQueryNoModel.test_q_annotation',
        'queries.test_query.TestQueryNoModel.test_subquery_annotation',
        'queries.tests.ExcludeTest17600.test_exclude_plain',
        'queries.tests.ExcludeTest17600.test_exclude_plain_distinct',
        'queries.tests.ExcludeTest17600.test_exclude_with_q_is_equal_to_plain_exclude',
        'queries.tests.ExcludeTest17600.test_exclude_with_q_is_equal_to_plain_exclude_variation',
        'queries.tests.ExcludeTest17600.test_exclude_with_q_object_distinct',
        'queries.tests.ExcludeTest17600.test_exclude_with_q_object_no_distinct',
        'queries.tests.ExcludeTests.test_exclude_m2m_through',
        'queries.tests.ExcludeTests.test_exclude_multivalued_exists',
        'queries.tests.ExcludeTests.test_exclude_reverse_fk_field_ref',
        'queries.tests.ExcludeTests.test_exclude_subquery',
        'queries.tests.ExcludeTests.test_exclude_with_circular_fk_relation',
        'queries.tests.ExcludeTests.test_subquery_exclude_outerref',
        'queries.tests.ExcludeTests.test_to_field',
        'queries.tests.ForeignKeyToBaseExcludeTests.test_ticket_21787',
        'queries.tests.JoinReuseTest.test_inverted_q_across_relations',
        'queries.tests.ManyToManyExcludeTest.test_exclude_many_to_many',
        'queries.tests.ManyToManyExcludeTest.test_ticket_12823',
        'queries.tests.Queries1Tests.test_combining_does_not_mutate',
        'queries.tests.Queries1Tests.test_exclude',
        'queries.tests.Queries1Tests.test_exclude_in',
        'queries.tests.Queries1Tests.test_excluded_intermediary_m2m_table_joined',
        'queries.tests.Queries4Tests.test_join_reuse_order',
        'queries.tests.Queries4Tests.test_ticket24525',
        'queries.tests.Queries6Tests.test_xor_subquery',
        'queries.tests.QuerySetBitwiseOperationTests.test_subquery_aliases',
        'queries.tests.TestTicket24605.test_ticket_24605',
        'queries.tests.Ticket20101Tests.test_ticket_20101',
        'queries.tests.Ticket20788Tests.test_ticket_20788',
        'queries.tests.Ticket22429Tests.test_ticket_22429',
        'queries.tests.Ticket23605Tests.test_ticket_23605',
    ]),
    (None, CORRELATED, [
        'aggregation.test_filter_argument.FilteredAggregateTests.test_filtered_aggregate_on_exists',
        'aggregation.test_filter_argument.FilteredAggregateTests.test_filtered_aggregrate_ref_in_subquery_annotation',
        'aggregation.tests.AggregateTestCase.test_aggregation_subquery_annotation_multivalued',
        'aggregation.tests.AggregateTestCase.test_aggregation_subquery_annotation_values_collision',
        'aggregation.tests.AggregateTestCase.test_group_by_exists_annotation',
        'aggregation.tests.AggregateTestCase.test_group_by_subquery_annotation',
        'aggregation_regress.tests.AggregationTests.test_annotate_with_extra',
        'annotations.tests.NonAggregateAnnotationTestCase.test_annotation_exists_aggregate_values_chaining',
        'expressions.tests.BasicExpressionsTests.test_annotations_within_subquery',
        'expressions.tests.BasicExpressionsTests.test_nested_subquery',
        'expressions.tests.BasicExpressionsTests.test_nested_subquery_join_outer_ref',
        'expressions.tests.BasicExpressionsTests.test_order_by_exists',
        'expressions.tests.BasicExpressionsTests.test_outerref_mixed_case_table_name',
        'expressions.tests.BasicExpressionsTests.test_outerref_with_operator',
        'expressions.tests.BasicExpressionsTests.test_subquery_filter_by_aggregate',
        'expressions.tests.BasicExpressionsTests.test_subquery_filter_by_lazy',
        'expressions.tests.BasicExpressionsTests.test_subquery_references_joined_table_twice',
        'expressions.tests.FTimeDeltaTests.test_date_subquery_subtraction',
        'expressions.tests.FTimeDeltaTests.test_datetime_subquery_subtraction',
        'ordering.tests.OrderingTests.test_orders_nulls_first_on_filtered_subquery',
        'queries.tests.ExcludeTests.test_exclude_subquery',
        'queries.tests.Ticket23605Tests.test_ticket_23605',
    ]),
    (None, MUTATIONS, [
        'basic.tests.SelectOnSaveTests.test_select_on_save',
        'basic.tests.SelectOnSaveTests.test_select_on_save_lying_update',
        'delete.tests.DeletionTests.test_bulk',
        'delete.tests.DeletionTests.test_cannot_defer_constraint_checks',
        'delete.tests.DeletionTests.test_large_delete',
        'delete.tests.DeletionTests.test_large_delete_related',
        'delete.tests.DeletionTests.test_only_referenced_fields_selected',
        'delete.tests.DeletionTests.test_proxied_model_duplicate_queries',
        'delete.tests.FastDeleteTests.test_fast_delete_aggregation',
        'delete.tests.FastDeleteTests.test_fast_delete_all',
        'delete.tests.FastDeleteTests.test_fast_delete_combined_relationships',
        'delete.tests.FastDeleteTests.test_fast_delete_fk',
        'delete.tests.FastDeleteTests.test_fast_delete_full_match',
        'delete.tests.FastDeleteTests.test_fast_delete_inheritance',
        'delete.tests.FastDeleteTests.test_fast_delete_joined_qs',
        'delete.tests.FastDeleteTests.test_fast_delete_large_batch',
        'delete.tests.FastDeleteTests.test_fast_delete_m2m',
        'delete.tests.FastDeleteTests.test_fast_delete_qs',
        'delete.tests.FastDeleteTests.test_fast_delete_revm2m',
        'delete.tests.OnDeleteTests.test_do_nothing_qscount',
        'queries.test_bulk_update.BulkUpdateNoteTests.test_batch_size',
        'queries.test_bulk_update.BulkUpdateNoteTests.test_foreign_keys_do_not_lookup',
        'queries.test_bulk_update.BulkUpdateNoteTests.test_multiple_fields',
        'queries.test_bulk_update.BulkUpdateNoteTests.test_simple',
        'queries.test_bulk_update.BulkUpdateTests.test_database_routing',
    ]),
    (None, NO_CONSTRAINTS, [
        'get_or_create.tests.GetOrCreateTestsWithManualPKs.test_create_with_duplicate_primary_key',
        'get_or_create.tests.GetOrCreateThroughManyToMany.test_something',
        'get_or_create.tests.UpdateOrCreateTests.test_manual_primary_key_test',
        'get_or_create.tests.UpdateOrCreateTestsWithManualPKs.test_create_with_duplicate_primary_key',
        'migrations.test_operations.OperationTests.test_rename_field_unique_together',
        'queries.test_bulk_update.BulkUpdateTests.test_database_routing_batch_atomicity',
    ]),
    (None, NO_RETURNING, [
        'queries.test_db_returning.ReturningValuesTests.test_insert_returning',
        'queries.test_db_returning.ReturningValuesTests.test_insert_returning_multiple',
    ]),
]
# END GENERATED

# BEGIN DATE RANGE (18.16 refuses dates before 1970 with DataError; issue 13) --
# The test data (setUpTestData for a whole class) holds such a date.
MANUAL += [
    ((20, 1), OLD_DATETIME_DATA, [
        "aggregation_regress.tests.AggregationTests",
        "annotations.tests.NonAggregateAnnotationTestCase",
    ]),
    ((20, 1), DATE_RANGE, [
        # ReservedName/Number created 1966-06-06
        "queries.test_qs_combinators.QuerySetSetOperationTests."
        "test_union_multiple_models_with_values_and_datetime_annotations",
        "queries.test_qs_combinators.QuerySetSetOperationTests."
        "test_union_multiple_models_with_values_list_and_datetime_annotations",
        # Person(birthday=1940-10-09) in setUpTestData
        "get_or_create.tests.GetOrCreateTests",
        # Person(birthday=1940...1943)
        "get_or_create.tests.UpdateOrCreateTests.test_create",
        "get_or_create.tests.UpdateOrCreateTests.test_create_callable_create_defaults",
        "get_or_create.tests.UpdateOrCreateTests.test_create_callable_default",
        "get_or_create.tests.UpdateOrCreateTests.test_create_defaults_exact",
        "get_or_create.tests.UpdateOrCreateTests.test_create_twice",
        "get_or_create.tests.UpdateOrCreateTests.test_defaults_exact",
        "get_or_create.tests.UpdateOrCreateTests.test_defaults_not_evaluated_unless_needed",
        "get_or_create.tests.UpdateOrCreateTests.test_update",
        "get_or_create.tests.UpdateOrCreateTests.test_update_callable_default",
        # Article(pub_date=1900-01-01)
        "ordering.tests.OrderingTests.test_alias_with_period_shadows_table_name",
    ]),
]
# END DATE RANGE -------------------------------------------------------------


def django_test_skips(connection):
    """DatabaseFeatures.django_test_skips of a connection (Django's format)."""
    return skips_for(connection.server_version, embedded=on_embedded(connection))


def django_test_expected_failures(connection):
    """DatabaseFeatures.django_test_expected_failures: none, every listed test
    is skipped with its reason."""
    return set()


def skips_for(version, embedded=False):
    """{reason: set of test names} for a server version, and the embedded
    engine's own listings if ``embedded`` (none with DJANGO_CH_NO_SKIPS or
    DJANGO_CH_LISTED_ONLY set: every test runs)."""
    import os

    out = {}
    if os.environ.get("DJANGO_CH_NO_SKIPS") or os.environ.get("DJANGO_CH_LISTED_ONLY"):
        return out
    for reason, tests in _applying(version, embedded):
        out.setdefault(reason, set()).update(tests)
    return out


def listed(version, embedded=False, django_version=None):
    """Every test name listed for a server version (and the embedded engine),
    whatever the reason."""
    return set().union(*(tests for _, tests in _applying(version, embedded, django_version)))


def _applying(version, embedded, django_version=None):
    """(reason, tests) of the listings that apply to a server version and a
    Django version (default: the one installed)."""
    entries = _entries(django_version) + (_embedded_entries(django_version) if embedded else [])
    return [(reason, tests) for gate, reason, tests in entries if gate_applies(gate, version)]


def gate_applies(gate, version):
    """Whether a listing's gate applies to a server version: None for every
    version, (20, 1) before 20.1, ((21, 9), None) from 21.9 on, ((a), (b)) from
    a and before b."""
    version = tuple(version)
    if gate is None:
        return True
    if isinstance(gate[0], tuple) or gate[0] is None:
        since, before = gate
        return (since is None or version >= since) and (before is None or version < before)
    return version < gate


def reason_name(reason):
    """The constant's name of a reason (MUTATIONS...)."""
    return next((k for k, v in globals().items() if v is reason and k.isupper()), "?")


# BEGIN DJANGO RELEASES ------------------------------------------------------
# The lists above are Django 5.2's suite. What later Django releases change:

# Tests a later release removed or split into others: not marked there (Django
# fails a whole module on a listed name its suite lacks).
GONE_IN_DJANGO = {
    (6, 1): {
        "aggregation_regress.tests.AggregationTests.test_more_more",
        "aggregation_regress.tests.AggregationTests.test_more_more_more",
        "annotations.tests.AliasTests.test_alias_filtered_relation_sql_injection_dollar_sign",
        "lookup.tests.LookupTests.test_values",
        "lookup.tests.LookupTests.test_values_list",
    },
}

# Listed for Django 5.2 and passing from a later release on: not listed there.
# From 6.0 Django's own test settings make DEFAULT_AUTO_FIELD BigAutoField, so
# the SNOWFLAKE_KEYS schema tests expect the Int64 keys that snowflake ids need.
PASSING_FROM_DJANGO = {
    (6, 0): {t for _, reason, tests in MANUAL if reason is SNOWFLAKE_KEYS
             for t in tests if t.startswith("schema.tests.SchemaTests.")},
    # 6.1 selects one relation (select_related("creator")): one JOIN.
    (6, 1): {"queries.tests.Queries1Tests.test_ticket2496"},
}

# Listed for Django 5.2 and skipped by a later release itself (a feature flag
# of the backend says no): a listing there would be dead.
SKIPPED_BY_DJANGO_FROM = {
    # skipUnlessDBFeature("supports_transactions") from Django 6.1.
    (6, 1): {
        "migrations.test_executor.ExecutorTests.test_atomic_operation_in_non_atomic_migration",
        "migrations.test_operations.OperationTests.test_run_python_atomic",
    },
}

BOOL_WHERE = ("BooleanField is UInt8 before ClickHouse 21.12 (no Bool type), which ClickHouse "
              "filters on directly: the test wants the \"= True\" comparison MySQL's indexes need")
DB_DEFAULT_QUERY = ("db_default expressions are computed before the INSERT, one SELECT per "
                    "distinct expression: ClickHouse has no DEFAULT keyword in VALUES and no "
                    "RETURNING to read them back")
STRING_AGG_DISTINCT = ("STRING_AGG(DISTINCT x, sep) is refused by ClickHouse (groupConcat "
                       "takes DISTINCT with one argument only), and STRING_AGG needs 26.5")
JSON_TEXT = ("JSONField is a String column: values compare as JSON text, so JSON written "
             "with other whitespace (raw SQL) is not equal to Django's serialization")
STRING_AGG = "STRING_AGG (Django 6.0's StringAgg) needs ClickHouse 26.5 (NotSupportedError before)"
OLD_JOIN_EXTRA = ("ClickHouse 18.16 fails a comma join from extra(tables=...) with an ORDER BY "
                  "on both tables (\"Logical error: unknown combination of JOIN\")")
NOW_BY_CHANCE = (
    "DateTime holds whole seconds before ClickHouse 20.1 (no DateTime64): the test saves "
    "Now() twice 0.1 s apart and expects the second to be later, which holds only when a "
    "second boundary falls between them (by chance; triage.py --check re-runs it)")
UNORDERED_BY_CHANCE = (
    "the test compares two queries ordered by a key with ties: ClickHouse's sort is not "
    "stable and returns tied rows in no particular order, so the two agree only by chance "
    "(the test may pass: triage.py --stale names such listings apart)")

# (first Django release, gate, reason, tests): listed from that release on
# (tests Django 6.1 added; the release must have the test, see GONE_IN_DJANGO).
DJANGO_RELEASE_LISTED = [
    ((6, 1), (20, 1), ONE_JOIN, [
        "aggregation_regress.tests.AggregationTests.test_aggregate_cloning",
        "aggregation_regress.tests.AggregationTests.test_annotate_select_related",
        "aggregation_regress.tests.AggregationTests.test_count_preserve_group_by",
        "aggregation_regress.tests.AggregationTests.test_extra_select_grouping_with_params",
        "aggregation_regress.tests.AggregationTests.test_inherited_fields_aggregation",
        "aggregation_regress.tests.AggregationTests.test_order_by_group_by_join",
        "aggregation.tests.AggregateTestCase.test_string_agg_filter_in_subquery",
        "delete.tests.DeletionTests.test_keep_parents_does_not_delete_proxy_related",
    ]),
    ((6, 1), (25, 0), CORRELATED, [
        "expressions.tests.BasicExpressionsTests.test_annotation_with_outerref_and_output_field",
    ]),
    ((6, 1), (20, 1), NOW_BY_CHANCE, [
        "basic.tests.ModelTest.test_save_expressions",
    ]),
    ((6, 1), (19, 18), UNION_DISTINCT, [
        "queries.test_qs_combinators.QuerySetSetOperationTests."
        "test_count_union_with_select_related_in_values",
        "queries.test_qs_combinators.QuerySetSetOperationTests."
        "test_double_union_in_with_default_ordering",
        "queries.test_qs_combinators.QuerySetSetOperationTests."
        "test_union_applies_default_ordering_afterward",
        "queries.test_qs_combinators.QuerySetSetOperationTests.test_union_with_different_models",
    ]),
    ((6, 1), (20, 1), OLD_JOIN_EXTRA, [
        "queries.tests.Queries5Tests.test_ordering_with_extra",
    ]),
    ((6, 1), (26, 5), STRING_AGG, [
        "aggregation.tests.AggregateTestCase.test_string_agg_escapes_delimiter",
        "aggregation.tests.AggregateTestCase.test_string_agg_filter",
        "aggregation.tests.AggregateTestCase.test_stringagg_default_value",
        # refused for the version before Django's "no ORDER BY in aggregates"
        "aggregation.tests.AggregateTestCase.test_string_agg_order_by_is_not_supported",
    ]),
    ((6, 1), (21, 12), BOOL_WHERE, [
        "lookup.tests.LookupTests.test_exact_booleanfield",
        "lookup.tests.LookupTests.test_exact_booleanfield_annotation",
    ]),
    ((6, 1), (20, 1), ONE_JOIN, [
        "lookup.tests.LookupTests.test_values_list_relations",
        "lookup.tests.LookupTests.test_values_relations",
    ]),
    ((6, 1), (19, 4), NO_JSON_FUNCTIONS, [
        "model_fields.test_jsonfield.JSONNullTests.test_index_lookup",
        "model_fields.test_jsonfield.JSONNullTests.test_key_in",
        "model_fields.test_jsonfield.JSONNullTests.test_key_transform_exact_filter",
        "model_fields.test_jsonfield.TestQuerying.test_cast_with_key_text_transform",
        "model_fields.test_jsonfield.TestQuerying.test_deep_negative_lookup_array",
        "model_fields.test_jsonfield.TestQuerying.test_deep_negative_lookup_mixed",
        "model_fields.test_jsonfield.TestQuerying.test_key_iexact_none",
        "model_fields.test_jsonfield.TestQuerying.test_numeric_lookups_with_expression",
        "model_fields.test_jsonfield.TestQuerying.test_shallow_list_negative_lookup",
    ]),
    ((6, 1), None, JSON_TEXT, [
        "model_fields.test_jsonfield.TestQuerying.test_in_json_whitespace",
    ]),
    ((6, 1), None, UNORDERED, [
        "model_fields.test_jsonfield.JSONNullTests.test_bulk_update",
        "model_fields.test_jsonfield.JSONNullTests.test_filter_in",
        "model_fields.test_jsonfield.JSONNullTests.test_key_in",
    ]),
    ((6, 1), None, STRING_AGG_DISTINCT, [
        "aggregation.tests.AggregateTestCase.test_distinct_on_stringagg",
    ]),
    ((6, 0), None, DB_DEFAULT_QUERY, [
        "bulk_create.tests.BulkCreateTests.test_db_default_field_excluded",
    ]),
    ((6, 1), None, MUTATIONS, [
        "queries.test_bulk_update.BulkUpdateNoteTests.test_max_batch_size",
    ]),
    ((6, 1), None, UNIQUE_NOT_CREATED, [
        "migrations.test_operations.OperationTests.test_alter_unique_together_deferred",
        "migrations.test_operations.OperationTests."
        "test_alter_unique_together_deferred_overlapping_columns",
        "migrations.test_operations.OperationTests."
        "test_alter_index_together_deferred_overlapping_columns",
    ]),
    ((6, 1), None, NO_DEFERRED_SQL, [
        "migrations.test_commands.MigrateTests.test_migrate_syncdb_installed_truncated_db_model",
        "migrations.test_operations.OperationTests."
        "test_rename_model_with_self_referential_fk_collect_sql",
    ]),
    # In Django 5.2 too: ties of equal length ("Name 1"/"Name 2", two NULLs).
    ((5, 2), None, UNORDERED_BY_CHANCE, [
        "ordering.tests.OrderingTests.test_order_by_expression_ref",
    ]),
]


def _entries(django_version=None):
    """The (gate, reason, tests) listings that apply to a Django version
    (default: the one installed)."""
    if django_version is None:
        import django
        django_version = django.VERSION
    release = tuple(django_version[:2])
    gone = set().union(*(names for changes in (GONE_IN_DJANGO, PASSING_FROM_DJANGO,
                                               SKIPPED_BY_DJANGO_FROM)
                         for since, names in changes.items() if release >= since))
    entries = [(gate, reason, [t for t in tests if t not in gone])
               for gate, reason, tests in MANUAL + GENERATED]
    entries += [(gate, reason, tests) for since, gate, reason, tests in DJANGO_RELEASE_LISTED
                if release >= since]
    return entries
# END DJANGO RELEASES --------------------------------------------------------
# BEGIN MICROSECONDS ----------------------------------------------------------
# Kept apart from the lists above (and from what triage.py rewrites): tests that
# write a DateTimeField value with microseconds, which 18.16 refuses. Django 5.2's
# names in MANUAL, what Django 6.1 removed and added in the release tables.
MICROSECONDS_REFUSED = (
    "DateTimeField is a whole-second DateTime column before ClickHouse 20.1 (no DateTime64): "
    "the test writes a value with microseconds (often timezone.now(), or a default=timezone.now "
    "such as contrib.auth's User.date_joined), which the backend refuses with DataError "
    "instead of cutting it to the second")
MANUAL += [
    ((20, 1), MICROSECONDS_REFUSED, [
        "async.test_async_auth.AsyncAuthTest.test_aauthenticate",
        "async.test_async_auth.AsyncAuthTest.test_alogin",
        "async.test_async_auth.AsyncAuthTest.test_alogin_new_user",
        "async.test_async_auth.AsyncAuthTest.test_alogin_without_user_anonymous_request",
        "async.test_async_auth.AsyncAuthTest.test_alogin_without_user_authenticated_request",
        "async.test_async_auth.AsyncAuthTest.test_alogin_without_user_no_request_user",
        "async.test_async_auth.AsyncAuthTest.test_alogout",
        "async.test_async_auth.AsyncAuthTest.test_change_password",
        "async.test_async_auth.AsyncAuthTest.test_changed_password_invalidates_aget_user",
        "async.test_async_auth.AsyncAuthTest.test_client_aforce_login",
        "async.test_async_auth.AsyncAuthTest.test_client_aforce_login_backend",
        "async.test_async_auth.AsyncAuthTest.test_client_alogout",
        "async.test_async_auth.AsyncAuthTest.test_invalid_login",
        "async.test_async_model_methods.AsyncModelOperationTest.test_adelete",
        "async.test_async_model_methods.AsyncModelOperationTest.test_arefresh_from_db",
        "async.test_async_model_methods.AsyncModelOperationTest.test_arefresh_from_db_from_queryset",
        "async.test_async_model_methods.AsyncModelOperationTest.test_asave",
        "async.test_async_queryset.AsyncQuerySetTest.test_abulk_create",
        "async.test_async_queryset.AsyncQuerySetTest.test_acreate",
        "async.test_async_queryset.AsyncQuerySetTest.test_aget_or_create",
        "async.test_async_queryset.AsyncQuerySetTest.test_aupdate_or_create",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aadd",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aadd_reverse",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aclear",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aclear_reverse",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_acreate",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_acreate_reverse",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aget_or_create",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aget_or_create_reverse",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aremove",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aremove_reverse",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aset",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aset_reverse",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aupdate_or_create",
        "async.test_async_related_managers.AsyncRelatedManagersOperationTest.test_aupdate_or_create_reverse",
        "async.test_async_shortcuts.GetListObjectOr404Test.test_aget_object_or_404",
        "async.test_async_shortcuts.GetListObjectOr404Test.test_get_list_or_404",
        "async.test_async_shortcuts.GetListObjectOr404Test.test_get_list_or_404_bad_class",
        "async.test_async_shortcuts.GetListObjectOr404Test.test_get_object_or_404_bad_class",
        "basic.tests.ConcurrentSaveTests.test_concurrent_delete_with_save",
        "basic.tests.ModelRefreshTests.test_refresh",
        "basic.tests.ModelRefreshTests.test_refresh_no_fields",
        "basic.tests.ModelRefreshTests.test_refresh_overwrites_queryset_fields",
        "basic.tests.ModelRefreshTests.test_refresh_overwrites_queryset_using",
        "basic.tests.ModelTest.test_create_relation_with_gettext_lazy",
        "basic.tests.ModelTest.test_delete_and_access_field",
        "basic.tests.ModelTest.test_emptyqs_customqs",
        "basic.tests.ModelTest.test_emptyqs_values",
        "basic.tests.ModelTest.test_emptyqs_values_order",
        "basic.tests.ModelTest.test_extra_method_select_argument_with_dashes",
        "basic.tests.ModelTest.test_extra_method_select_argument_with_dashes_and_values",
        "basic.tests.ModelTest.test_hash_function",
        "basic.tests.ModelTest.test_is_pk_set",
        "basic.tests.ModelTest.test_year_lookup_edge_case",
        "bulk_create.tests.BulkCreateTests.test_bulk_insert_nullable_fields",
        "bulk_create.tests.BulkCreateTests.test_nullable_fk_after_parent",
        "bulk_create.tests.BulkCreateTests.test_nullable_fk_after_parent_bulk_create",
        "lookup.tests.LookupTests.test_regex",
        "model_fields.test_datetimefield.DateTimeFieldTests.test_lookup_date_with_use_tz",
        "model_fields.test_datetimefield.DateTimeFieldTests.test_lookup_date_without_use_tz",
        "timezones.tests.LegacyDatabaseTests.test_naive_datetime_with_microsecond",
        "timezones.tests.NewDatabaseTests.test_aware_datetime_in_local_timezone_with_microsecond",
        "timezones.tests.NewDatabaseTests.test_naive_datetime_with_microsecond",
        "timezones.tests.NewDatabaseTests.test_query_convert_timezones",
    ]),
]
GONE_IN_DJANGO.setdefault((6, 1), set()).update({
    "async.test_async_auth.AsyncAuthTest.test_alogin_without_user_anonymous_request",
    "async.test_async_auth.AsyncAuthTest.test_alogin_without_user_authenticated_request",
    "async.test_async_auth.AsyncAuthTest.test_alogin_without_user_no_request_user",
})
DJANGO_RELEASE_LISTED += [
    ((6, 1), (20, 1), MICROSECONDS_REFUSED, [
        "async.test_async_auth.AsyncAuthTest.test_alogin_without_user",
        "basic.tests.ModelRefreshTests.test_refresh_copies_fetch_mode_from_plucked_instance",
        "basic.tests.ModelRefreshTests.test_refresh_ignores_fetch_mode_if_no_instance_plucked",
        # contrib.sessions' expire_date (the admin login)
        "timezones.tests.AdminTests",
    ]),
]
DJANGO_RELEASE_LISTED += [
    # Found by the full Django 6.1 server cell after the refusal landed (test data
    # written with timezone.now()/datetime.now()); the same tests on 5.2.
    ((5, 2), (20, 1), MICROSECONDS_REFUSED, [
        "db_functions.comparison.test_cast.CastTests.test_cast_from_db_datetime_to_date",
        "db_functions.comparison.test_cast.CastTests.test_cast_from_db_datetime_to_date_group_by",
        "db_functions.comparison.test_coalesce.CoalesceTests.test_mixed_values",
        "db_functions.comparison.test_greatest.GreatestTests.test_all_null",
        "db_functions.comparison.test_greatest.GreatestTests.test_propagates_null",
        "db_functions.comparison.test_least.LeastTests.test_all_null",
        "db_functions.comparison.test_least.LeastTests.test_propagates_null",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_iso_year_func_boundaries",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_lookup_name_sql_injection",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_quarter_func_boundaries",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_second_func_no_fractional",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_week_func_boundaries",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_lookup_name_sql_injection",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_func_explicit_timezone_priority",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_func_with_timezone",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_func_with_timezone_minus_no_offset",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_iso_year_func_boundaries",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_lookup_name_sql_injection",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_quarter_func_boundaries",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_second_func_no_fractional",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_week_func_boundaries",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_lookup_name_sql_injection",
        "db_functions.datetime.test_now.NowTests.test_basic",
        "db_functions.text.test_concat.ConcatTests.test_mixed_char_text",
        "db_functions.text.test_strindex.StrIndexTests.test_annotate_textfield",
        "expressions.tests.FieldTransformTests.test_month_aggregation",
        "expressions.tests.FieldTransformTests.test_multiple_transforms_in_values",
        "expressions.tests.FieldTransformTests.test_transform_in_values",
        "queries.test_bulk_update.BulkUpdateTests.test_datetime_field",
        "queries.test_iterator.QuerySetIteratorTests.test_default_iterator_chunk_size",
        "queries.test_iterator.QuerySetIteratorTests.test_iterator_chunk_size",
        "queries.test_iterator.QuerySetIteratorTests.test_iterator_invalid_chunk_size",
        "queries.test_iterator.QuerySetIteratorTests.test_no_chunked_reads",
        "queries.tests.ComparisonTests.test_ticket8597",
        "queries.tests.ExistsSql.test_ticket_18414",
        "queries.tests.Queries4Tests.test_combine_or_filter_reuse",
        "queries.tests.Queries4Tests.test_order_by_resetting",
        "queries.tests.Queries4Tests.test_order_by_reverse_fk",
        "queries.tests.Queries4Tests.test_ticket10181",
        "queries.tests.Queries4Tests.test_ticket11811",
        "queries.tests.WeirdQuerysetSlicingTests.test_empty_resultset_sql",
        "queries.tests.WeirdQuerysetSlicingTests.test_empty_sliced_subquery",
        "queries.tests.WeirdQuerysetSlicingTests.test_empty_sliced_subquery_exclude",
        "queries.tests.WeirdQuerysetSlicingTests.test_tickets_7698_10202",
        "queries.tests.WeirdQuerysetSlicingTests.test_zero_length_values_slicing",
    ]),
]
# END MICROSECONDS ------------------------------------------------------------

# BEGIN EMBEDDED ---------------------------------------------------------------
# What fails on the embedded engine (chDB) only, whatever its ClickHouse version:
# (first Django release, reason, tests).
EMBEDDED_ONE_PROCESS = (
    "the embedded engine (chDB) locks its data directory to one process: the test runs a "
    "management command in a subprocess with the same DATABASES, which cannot open it "
    "(\"Another server instance in same directory is already running\")")

EMBEDDED_LISTED = [
    ((6, 1), EMBEDDED_ONE_PROCESS, [
        "migrations.test_loader.LoaderTests."
        "test_loading_order_does_not_create_circular_dependency",
    ]),
]


def on_embedded(connection):
    """Whether a Django connection is to the embedded engine."""
    return bool((connection.settings_dict.get("OPTIONS") or {}).get("embedded"))


def _embedded_entries(django_version=None):
    """The embedded engine's listings that apply to a Django version (default:
    the one installed), as (gate None, reason, tests)."""
    if django_version is None:
        import django
        django_version = django.VERSION
    release = tuple(django_version[:2])
    return [(None, reason, tests) for since, reason, tests in EMBEDDED_LISTED if release >= since]
# END EMBEDDED -----------------------------------------------------------------

# BEGIN RE-REASONED (triage.py --check on listed-only runs: each reason now says
# what the failure shows) ------------------------------------------------------
NO_SAVEPOINTS = (
    "ClickHouse has no transactions, so no savepoints: update_or_create()'s INSERT fails "
    "(IntegrityError) inside a nested atomic block, which Django cannot roll back to, so "
    "it refuses get_or_create()'s next query in the outer block (TransactionManagementError)")
SNOWFLAKE_SETUP_LEFTOVERS = (
    "setUpTestData stores a snowflake id (ClickHouse has no auto-increment) in Order.id, an "
    "IntegerField primary key, which the backend refuses (DataError); the rows written "
    "before it stay (no transactions to roll back), so the class's later tests find them "
    "twice (MultipleObjectsReturned)")
DOLLAR_ALIAS = (
    "ClickHouse before 20.1 cannot parse a quoted alias that starts with $ (the test "
    "checks that such an alias is quoted): syntax error at the $")
OUTER_ALIAS = (
    "ClickHouse resolves \"table\".\"column\" to the nearest table of that name, even one "
    "aliased in a subquery, so the backend gives an outer table that a subquery reads again "
    "another alias (O0): the rows are right, but the test counts the unaliased "
    "\"queries_company\".\"id\" in the SQL")
TEXT_TO_DATETIME = (
    "ClickHouse before 20.1 converts a text column to DateTime (ALTER TABLE ... MODIFY "
    "COLUMN) only from whole-second text: the test's '1988-05-05 3:16:17.4567' has a "
    "fraction (and there is no DateTime64 to hold it)")
MANUAL += [
    ((20, 1), TEXT_TO_DATETIME, [
        "schema.tests.SchemaTests.test_alter_text_field_to_datetime_field",
    ]),
    (None, OUTER_ALIAS, [
        "queries.tests.ExcludeTests.test_exclude_m2m_through",
    ]),
    (None, UNIQUE_NOT_CREATED, [
        "inspectdb.tests.InspectDBTestCase.test_same_relations",
        "inspectdb.tests.InspectDBTestCase.test_unique_together_meta",
        "introspection.tests.IntrospectionTests.test_get_constraints",
        "migrations.test_operations.OperationTests.test_add_func_unique_constraint",
        "migrations.test_operations.OperationTests.test_alter_field_with_func_unique_constraint",
        "migrations.test_operations.OperationTests.test_remove_func_unique_constraint",
        "schema.tests.SchemaTests.test_alter_field_fk_to_o2o",
        "schema.tests.SchemaTests.test_alter_field_o2o_keeps_unique",
        "schema.tests.SchemaTests.test_alter_field_o2o_to_fk",
        "schema.tests.SchemaTests.test_composed_constraint_with_fk",
        "schema.tests.SchemaTests.test_composite_func_unique_constraint",
        "schema.tests.SchemaTests.test_func_unique_constraint",
        "schema.tests.SchemaTests.test_func_unique_constraint_lookups",
        "schema.tests.SchemaTests.test_remove_field_unique_does_not_remove_meta_constraints",
        "schema.tests.SchemaTests.test_remove_unique_together_does_not_remove_meta_constraints",
        "schema.tests.SchemaTests.test_unique_and_reverse_m2m",
        "schema.tests.SchemaTests.test_unique_constraint_field_and_expression",
    ]),
    (None, NO_SAVEPOINTS, [
        "get_or_create.tests.UpdateOrCreateTests.test_integrity",
    ]),
    (None, SNOWFLAKE_SETUP_LEFTOVERS, [
        "queries.tests.RelatedLookupTypeTests",
    ]),
    ((20, 1), DOLLAR_ALIAS, [
        "annotations.tests.AliasTests.test_alias_filtered_relation_sql_injection_dollar_sign",
    ]),
    # Listed as SECONDS (a value read back without its microseconds): the
    # backend now refuses the write instead.
    ((20, 1), MICROSECONDS_REFUSED, [
        "basic.tests.ModelRefreshTests.test_refresh_unsaved",
        "basic.tests.ModelRefreshTests.test_refresh_with_related",
        "basic.tests.ModelTest.test_microsecond_precision",
        "model_fields.test_datetimefield.DateTimeFieldTests.test_datetimes_save_completely",
        "db_functions.comparison.test_cast.CastTests.test_cast_from_db_datetime_to_time",
        "db_functions.comparison.test_cast.CastTests.test_cast_from_python_to_datetime",
        "db_functions.comparison.test_greatest.GreatestTests.test_basic",
        "db_functions.comparison.test_greatest.GreatestTests.test_coalesce_workaround",
        "db_functions.comparison.test_least.LeastTests.test_basic",
        "db_functions.comparison.test_least.LeastTests.test_coalesce_workaround",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_day_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_hour_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_iso_weekday_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_iso_year_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_minute_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_month_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_quarter_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_second_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_week_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_weekday_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_extract_year_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_date_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_day_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_hour_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_minute_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_month_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_quarter_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_second_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_time_comparison",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_time_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_week",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_week_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_year_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_day_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_hour_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_iso_weekday_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_iso_year_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_minute_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_month_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_quarter_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_second_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_week_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_weekday_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_extract_year_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_date_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_day_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_func_with_timezone",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_hour_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_minute_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_month_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_quarter_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_second_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_time_comparison",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_time_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_timezone_applied_before_truncation",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_week",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_week_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_year_func",
        "db_functions.datetime.test_now.NowTests.test_microseconds",
        # Also listed for another reason (what chDB or a newer server shows): on 18.16
        # their data's microseconds fail first.
        "dates.tests.DatesTests.test_related_model_traverse",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionTests.test_trunc_week_before_1000",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_func",
        "db_functions.datetime.test_extract_trunc.DateFunctionWithTimeZoneTests.test_trunc_week_before_1000",
        "db_functions.json.test_json_array.JSONArrayTests.test_textfield",
        "queries.tests.Queries4Tests.test_filter_reverse_non_integer_pk",
        # Also listed for another reason, which applies from 20.1:
        "queries.tests.Queries1Tests.test_filter_by_related_field_transform",
        "queries.tests.Queries4Tests.test_combine_join_reuse",
        "queries.tests.Queries4Tests.test_join_reuse_order",
        "queries.tests.Queries4Tests.test_ticket14876",
        "queries.tests.Queries4Tests.test_ticket15316_exclude_false",
        "queries.tests.Queries4Tests.test_ticket15316_exclude_true",
        "queries.tests.Queries4Tests.test_ticket15316_filter_false",
        "queries.tests.Queries4Tests.test_ticket15316_filter_true",
        "queries.tests.Queries4Tests.test_ticket15316_one2one_exclude_false",
        "queries.tests.Queries4Tests.test_ticket15316_one2one_exclude_true",
        "queries.tests.Queries4Tests.test_ticket15316_one2one_filter_false",
        "queries.tests.Queries4Tests.test_ticket15316_one2one_filter_true",
        "queries.tests.Queries4Tests.test_ticket24525",
        "queries.tests.Queries4Tests.test_ticket7095",
        # setUpTestData stores Experiment.start = 2010-06-25 12:15:30.747000: every test
        # of the class fails on 18.16 (its own reason, if any, applies from 20.1).
        "expressions.tests.FTimeDeltaTests",
        # Also MUTATIONS (any server): on 18.16 the test data's timezone.now() fails first.
        "basic.tests.SelectOnSaveTests.test_select_on_save",
        "basic.tests.SelectOnSaveTests.test_select_on_save_lying_update",
    ]),
]
# END RE-REASONED --------------------------------------------------------------

# BEGIN FAILS_WITH -------------------------------------------------------------
# What the failure of a test listed with each reason must show: a regex searched
# in the exception's type and message ("DataError: ..."), as runner.py records
# it in <module>.run.json. `triage.py --check` fails a listed-only run
# (DJANGO_CH_LISTED_ONLY=1) whose listed test passes, is skipped by Django
# itself, or fails with a message its reasons' patterns do not match.
FAILS_WITH = {
    MUTATIONS: (r"\d+ queries executed, \d+ expected|unexpectedly found in 'SELECT count\(\)|"
                r"'SELECT' unexpectedly found in 'SELECT \"\w+\"\.\"id\"|^AssertionError: 0 != 1$"),
    CORRELATED: (r"a subquery reading a column of the outer query \(OuterRef\) needs ClickHouse 25\.0|"
                 r"Syntax error: failed at position \d+[^\n]*(EXISTS|\(SELECT|AS \"?a\"? FROM)|"
                 r"Cannot decorrelate query|Correlated subqueries (are|in [A-Za-z ]+ are) not "
                 r"supported|Unknown identifier: \w+\.\w+|can't find correlated column|"
                 r"Scalar subquery returned more than one row"),
    CORRELATED_MODERN: (r"Cannot find column __table\d+\.\w+ in actions DAG|Correlated subqueries "
                        r"are not supported as IN function arguments|Correlated subqueries in "
                        r"(aggregation keys|aggregate function argument) are not supported|can't find correlated column|"
                        r"Cannot decorrelate query"),
    CORRELATED_LIMIT: r"Cannot decorrelate query, because 'Limit' step is not supported",
    UNION_SUBQUERY: r"getResultType is not supported for UNION query tree node",
    ONE_JOIN: r"more than one JOIN in query is not implemented",
    SECONDS: r"AssertionError: [^\n]*datetime\.(datetime|time|timedelta)\(",
    MICROSECONDS_REFUSED: r"^DataError: [^\n]* has microseconds, which its column \(DateTime",
    EMULATED_EMPTY_AGGREGATES: r"^AssertionError: 3 != 2$",
    OLD_DATETIME_DATA: r"^DataError: 1945-04-25 [\d:]+ is out of range for original_opening",
    DATE_RANGE: (r"^DataError: 1[89]\d\d-\d\d-\d\d[^\n]* is out of range for \w+ \(Date|"
                 r"datetime\.(datetime|date)\(1970, 1, 1[,)][^\n]*!= [^\n]*datetime\.(datetime|date)"
                 r"\(1[89]\d\d,"),
    NULL_DATA_ERROR: r"Expression returns value NULL, that is out of range of type",
    KEY_COLUMNS: r"Cannot change the type of key column|key column",
    NOT_NULL_ALTER: r"Cannot convert column '\w+' from nullable type",
    OLD_FUNCTIONS: r"Unknown function|Unknown identifier: CURRENT",
    NO_CONSTRAINTS: r"(Integrity|Database)Error not raised|IntegrityError'>[^\n]*\) not raised",
    NO_RETURNING: r"'RETURNING [^']*' not found in '[^']*INSERT INTO",
    NO_JSON_FUNCTIONS: r"JSON key lookups need ClickHouse 19\.4",
    JOIN_TYPES: r"Type mismatch of columns to JOIN by",
    UNION_DISTINCT: r"union\(\) without all=True is UNION DISTINCT, which needs ClickHouse 19\.18",
    SNOWFLAKE_VALUES: r"^DataError: \d{16,} is out of range for \w+ \((Positive)?(Small)?IntegerField\)",
    SNOWFLAKE_KEYS: r"^AssertionError: '(Int64|BigIntegerField)' != '(U?Int(8|16|32)|IntegerField)'",
    UNORDERED: r"^AssertionError: (Sequences|Lists|Tuples) differ",
    UNORDERED_BY_CHANCE: r"^AssertionError: (Sequences|Lists|Tuples) differ",
    OLD_JOIN_KEYS: r"^AssertionError: Sequences differ: <QuerySet \[<SharedConnection: s2>",
    OLD_DECIMALS: r"Illegal types? of argument|no supertype|Decimal\(",
    OLD_COUNT_NULL: r"^AssertionError: None != 0$",
    OLD_DATE_STRING: r"Cannot (parse|convert)|Illegal types",
    OLD_JOIN_FILTER: r"Size of filter doesn't match size of column",
    NO_INDEXES: (r"_idx'|not found in \['id'\]|Found wrong number \(0\) of indexes|KeyError: 'type'|"
                 r"CREATE INDEX without TYPE is forbidden|Syntax error: failed at position \d+: INDEX|DatabaseError not raised|"
                 r"^AssertionError: (False is not True|True != False)$|Lists differ: \[<Index|"
                 r"Lists differ: \[\] != \['schema_"),
    NO_DEFERRED_SQL: (r"^AssertionError: (\d+) not greater than \1$|"
                      r"^AssertionError: '\"friend_id\"' not found in 'RENAME TABLE"),
    NO_TRANSACTIONS: r"^AssertionError: (1 != 0|True is not false)$",
    MISSING_AS_DEFAULT: r"^AssertionError: DatabaseError not raised$",
    ONE_STRING_TYPE: (r"'(TextField|Text)'[^\n]*!= [^\n]*'(CharField|BinaryField)'|"
                      r"'TextField'\] != \[[^\n]*'BinaryField'|Lists differ: \[\] != \[\d+|"
                      r"models\.CharField\(\)' not found"),
    CH_SQL_SPELLING: r"'LOWER\(\\?\"name\\?\"\)' not found in '[^']*lowerUTF8",
    RAW_ENGINE_LESS: r"Expected one of: ENGINE, storage definition",
    DROP_VIEW: r"Syntax error: failed at position \d+: VIEW ",
    RAW_DELETE: r"Unknown expression identifier `DELETE`|Syntax error: failed at position 1: DELETE FROM",
    RAW_UPDATE: r"Lightweight updates are not supported|Expected one of: ENGINE, storage definition",
    CHECK_CONSTRAINTS: r"^NotSupportedError: CHECK constraint '\w+' needs ClickHouse 19\.14",
    BOOL_TYPE: (r"'(models\.)?PositiveSmallIntegerField(\(\))?' != '(models\.)?BooleanField|"
                r"'(models\.)?BooleanField(\(\))?' != '(models\.)?PositiveSmallIntegerField|"
                r"'models\.GenericIPAddressField\(\)' != 'models\.TextField\(\)'"),
    AWARE_RAW_DATETIMES: r"^AttributeError: 'str' object has no attribute 'time'$",
    YEAR_RANGE: r"^DataError: 0999-[^\n]* is out of range for \w+ \((Date|DateTime)",
    JSON_KEY_PARAMS: r"not found in 'SELECT [^']*JSONExtract",
    JSON_NOT_VALIDATED: r"IntegrityError'>, [^\n]*\) not raised",
    TO_JSON_STRING: r"^NotSupportedError: JSON\w+ \(function toJSONString\) needs ClickHouse 21\.7",
    PAD: r"^NotSupportedError: [LR]Pad \(function (left|right)PadUTF8\) needs ClickHouse 21\.8",
    SHA512_FN: r"^NotSupportedError: SHA512 \(function SHA512\) needs ClickHouse 21\.9",
    SHA384_FN: r"^NotSupportedError: SHA384 \(function SHA384\) needs ClickHouse 21\.11",
    DISTINCT_JOIN: r"^AssertionError: Sequences differ: [\s\S]*First sequence contains \d+ additional",
    QUERY_FACTS: r"\['sql', 'time', 'query_id', 'read_rows', 'read_bytes'\] != \['sql', 'time'\]",
    BOOL_WHERE: r"= True|= true",
    DB_DEFAULT_QUERY: r"queries executed, \d+ expected",
    STRING_AGG_DISTINCT: r"Aggregate function groupConcat requires single argument",
    JSON_TEXT: r"^AssertionError: Sequences differ: <QuerySet \[\]> != \[<NullableJSONModel",
    STRING_AGG: r"STRING_AGG|StringAgg|26\.5",
    OLD_JOIN_EXTRA: r"unknown combination of JOIN",
    UNIQUE_NOT_CREATED: (r"^AssertionError: True != False$|_(uniq|unq|uq)'|unique_together = \(\('|'uniques': 0[^\n]*!= [^\n]*'uniques': 1|"
                         r"ForeignKey\([^\n]*not found|no logs of level DEBUG or higher triggered "
                         r"on django\.db\.backends\.schema"),
    NO_SAVEPOINTS: r"^TransactionManagementError: An error occurred in the current transaction",
    SNOWFLAKE_SETUP_LEFTOVERS: (r"^DataError: \d{16,} is out of range for id \(IntegerField\)|"
                                r"^MultipleObjectsReturned: get\(\) returned more than one"),
    TEXT_TO_DATETIME: r"^DataError: [^\n]*Cannot parse string '[^']*\.\d+' as DateTime",
    NOW_BY_CHANCE: (r"^AssertionError: datetime\.datetime\([^)]*\) not greater than "
                    r"datetime\.datetime\("),
    OUTER_ALIAS: r"^AssertionError: 0 != 2$",
    DOLLAR_ALIAS: r"Syntax error: failed at position \d+: \$",
    EMBEDDED_ONE_PROCESS: r"Another server instance in same directory is already running",
}
BY_CHANCE = {UNORDERED, UNORDERED_BY_CHANCE, NOW_BY_CHANCE}
# END FAILS_WITH ---------------------------------------------------------------
