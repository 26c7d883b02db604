"""SQL compilers: PREWHERE/SETTINGS on SELECT, client-side ids on INSERT,
UPDATE/DELETE as ClickHouse mutations.

How an expression's ClickHouse SQL is decided (one rule):

- The spelling of a Django class is its ``as_clickhouse`` method, the vendor
  hook Django's compiler calls; the compilers here add no spelling of their
  own. The backend installs them on Django's classes from tables in
  django_functions.py (functions, aggregates, Value, CombinedExpression),
  expressions.py (other expressions: Subquery, OrderBy, WhereNode, In,
  pattern and Decimal lookups...), datetimes.py (Extract/Trunc, whole-second
  bounds) and json_lookups.py (JSON key transforms and lookups);
  django_patches.py lists every such class and every other change made to a
  Django class, and why. Classes of clickhouse_backend.models define their
  own ``as_clickhouse``.
- A spelling that depends on where the node stands keeps that state on the
  compiler it is given (expressions.where_node counts the negated nodes being
  compiled).
- Which server can do what is a flag of features.py, asked inside those
  methods (``connection.features.<flag>``), never a version compared here.
- The compilers change the query, not the spelling of its nodes: outer
  tables renamed when a subquery reads the same table, GROUP BY keys for
  correlated subqueries, an ORDER BY for an unordered slice.
"""
import operator
import re
import time

from django.core.exceptions import EmptyResultSet, FieldError, FullResultSet
from django.db import DataError, NotSupportedError
from django.db.models.expressions import DatabaseDefault, OrderBy, Ref, Value
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models.fields import AutoFieldMixin, Field
from django.db.models.sql import compiler
from django.db.models.sql.constants import MULTI, SINGLE
from django.db.models.sql.datastructures import Join
from django.db.models.sql.query import Query

from clickhouse_backend.models.aggregates import select_merged_states
from clickhouse_backend.tables.engines import Distributed
from clickhouse_backend.utils.snowflake import generate_id

from . import bridge
from .django_functions import _fit_results, _typed_placeholder
from .expressions import _inner_tables, _nested_queries
from .datetimes import cut_generated
from .clauses import ClausesCompilerMixin
from .features import EMULATED_SETTINGS, require
from .clauses import collecting_settings

# Marks the outer table's alias while compiling mutations: ClickHouse
# rejects "table"."column" in ALTER ... UPDATE/DELETE.
_MARK = "\x00CHTABLE\x00"
MUTATION_WAIT_TIMEOUT = 300.0
MUTATION_STALL_TIMEOUT = 20.0


def _query_settings(compiler_):
    return dict(getattr(compiler_.query, "setting_info", None) or {})


def _check_query_settings(connection, settings_dict):
    """Per-query settings unknown to the server are refused (OPTIONS settings
    are dropped with a warning instead: see DatabaseWrapper)."""
    if not settings_dict:
        return {}
    known = connection.server_settings()
    unknown = sorted(k for k in settings_dict if k not in known and k not in EMULATED_SETTINGS)
    if unknown:
        raise NotSupportedError(
            "ClickHouse %s does not know setting(s): %s."
            % (".".join(map(str, connection.server_version)), ", ".join(unknown)))
    return {k: v for k, v in settings_dict.items() if k in known}


def _subquery_holders(query):
    """The expressions of ``query`` that can hold subqueries."""
    return (query.where, *query.annotations.values())


def _keep_multivalued_marks(query, clone):
    """Col.relabeled_clone() drops a column's possibly_multivalued mark, by
    which Django groups by a subquery that reads an outer column across a
    multivalued relation (OuterRef("book__name")) rather than by that column
    (Query.get_group_by_cols): without it an author with two books is two
    groups. The marks of ``query``'s subqueries are set again on ``clone``'s."""
    for node, copy in zip(_subquery_holders(query), _subquery_holders(clone)):
        for inner, inner_copy in zip(_nested_queries(node), _nested_queries(copy)):
            for col, col_copy in zip(inner.get_external_cols(), inner_copy.get_external_cols()):
                if getattr(col, "possibly_multivalued", False):
                    col_copy.possibly_multivalued = True


def _unmark_one_per_row(query):
    """Clear the possibly_multivalued mark of the outer columns read by
    ``query``'s subqueries that have one value per row of the query (Django
    marks every name with "__"): grouping by such a column is grouping by the
    subquery. Whether the mark is true depends only on the joins, so it can
    be cleared on the column shared with other copies of the query. Whether a
    mark was cleared."""
    cleared = False
    for annotation in query.annotations.values():
        for inner in _nested_queries(annotation):
            for col in inner.get_external_cols():
                if getattr(col, "possibly_multivalued", False) and col.alias in query.alias_map \
                        and _one_per_row(query.alias_map, col.alias, col.target.column):
                    col.possibly_multivalued = False
                    cleared = True
    return cleared


def _regrouped(group_by):
    """An explicit GROUP BY (values()) with each correlated subquery that
    now groups by its outer columns replaced by them."""
    for expr in group_by:
        source = expr.source if isinstance(expr, Ref) else expr
        if not any(inner.get_external_cols() for inner in _nested_queries(source)):
            yield expr
            continue
        cols = source.get_group_by_cols()
        if any(col is source for col in cols):
            yield expr
        else:
            yield from cols


def _one_per_row(alias_map, alias, column):
    """Whether ``column`` of the table ``alias`` (None: its whole row) has one
    value per row of the query's base table: it is reached through forward
    foreign keys only, or it is a key that a reverse/many-to-many join equates
    with a column of its parent table that has."""
    while True:
        join = alias_map.get(alias)
        if not isinstance(join, Join):
            return join is not None  # the base table
        field = join.join_field
        if getattr(field, "one_to_many", False) or getattr(field, "many_to_many", False):
            parents = [parent for parent, child in join.join_cols if child == column]
            if column is None or not parents:
                return False
            column = parents[0]
        else:
            column = None
        alias = join.parent_alias


def _selected_annotations(query):
    """The selected annotations, without filling Query.annotation_select's
    cache (the compilers change annotations later: select_merged_states)."""
    mask = query.annotation_select_mask
    return [a for name, a in query.annotations.items() if mask is None or name in mask]


def _correlated(query):
    """Whether a subquery in the SQL of ``query`` (its WHERE and selected
    annotations) reads a column of the query around it in its own WHERE or
    selected annotations (an unselected one, values("ceo") after
    annotate(employee=OuterRef("pk")), is not in the SQL)."""
    for node in (query.where, *_selected_annotations(query)):
        for inner in _nested_queries(node):
            exprs = (*_selected_annotations(inner), *inner.where.children)
            if any(col.alias in inner.external_aliases
                   for col in Query._gen_cols(exprs, include_external=True)):
                return True
    return False


# Server errors of a Cast's range check (django_functions._checked_cast):
# CANNOT_CONVERT_TYPE (accurateCast), FUNCTION_THROW_IF_VALUE_IS_NON_ZERO,
# DECIMAL_OVERFLOW.
_CAST_CHECK_CODES = (70, 395, 407)


def _explain_cast_checks(compiler_, exc):
    """The server refused a value a checked Cast of the query computes: a
    DataError naming the Cast's type and range (18.16's throwIf says only
    "Value passed to 'throwIf' function is non zero")."""
    checks = compiler_.__dict__.get("cast_checks")
    code = getattr(exc.__cause__, "code", None)
    if checks and code in _CAST_CHECK_CODES:
        raise DataError("A value computed by the server is out of range for Cast to %s "
                        "(ClickHouse's CAST would wrap it): %s" % (" or ".join(checks), exc)) from exc
    raise exc


def _colliding_aliases(query, select):
    """{alias: internal alias} for the SELECT aliases that name a column of a
    table of the query: without the query analyzer (has_query_analyzer) an
    alias is global, so `upper("c"."title") AS "name"` would also replace the
    joined "p"."name" (in WHERE, in another selected column). The result is
    read by position, so only the SQL's name changes (Refs to it follow:
    django_functions._ref). A subquery's aliases are read by its outer query: kept."""
    aliases = {a for _, _, a in select if a}
    if not aliases:
        return {}
    columns = set()
    models = {query.model} if query.model is not None else set()
    for join in query.alias_map.values():
        field = getattr(join, "join_field", None)
        for model in (getattr(field, "model", None), getattr(field, "related_model", None)):
            if isinstance(model, type):
                models.add(model)
    for model in models:
        columns.update(f.column for f in model._meta.concrete_fields)
    taken = aliases | columns
    renames = {}
    for expr, _, alias in select:
        if alias in columns and not (getattr(expr, "target", None) is not None
                                     and getattr(expr.target, "column", None) == alias
                                     and len(models) == 1):
            new = "%s__chb_alias" % alias
            while new in taken:
                new += "_"
            renames[alias] = new
            taken.add(new)
    return renames


class CompileMixin:
    """What every compiler (SELECT, UPDATE/DELETE mutations, aggregates over
    subqueries) checks before it sends a query."""

    def _refuse_correlated(self, query):
        """Servers before 25.x resolve no outer column in a subquery: refused
        before sending (the server's error would be "Unknown identifier")."""
        if not self.connection.features.supports_correlated_subqueries and _correlated(query):
            require(self.connection, "supports_correlated_subqueries",
                    "a subquery reading a column of the outer query (OuterRef)")

class SQLCompiler(ClausesCompilerMixin, CompileMixin, compiler.SQLCompiler):
    def get_order_by(self):
        result = super().get_order_by()
        if not result and self._unordered_slice():
            # LIMIT without ORDER BY picks arbitrary rows in ClickHouse (parts
            # are read in parallel): a sliced subquery (pk__in=qs[:2], where
            # the rows matter, unlike get()'s LIMIT 21) is ordered by the
            # primary key, whose
            # snowflake ids follow insertion order, as other databases'
            # "natural" order does.
            query = self.query
            expr = OrderBy(query.model._meta.pk.get_col(query.get_initial_alias()))
            sql, params = self.compile(expr)
            result = [(expr, (sql, params, False))]
        return result

    def _unshadow_outer_tables(self):
        """ClickHouse resolves "t"."c" to the nearest table *named* t, even
        one aliased U0 in a subquery: a subquery on the outer query's own
        table (Subquery(T.objects.filter(x=OuterRef("x")))) compared its rows
        with themselves. The outer tables whose alias is their name get
        another alias when a subquery reads the same table."""
        query = self.query
        own = {a for a, j in query.alias_map.items() if a == j.table_name}
        if not own or getattr(self, "_ch_unshadowed", False):
            return
        inner = set()
        for node in _subquery_holders(query):
            _inner_tables(node, inner)
        clash = own & inner
        if not clash or any((t, "plain") in inner for t in own):
            return
        taken = set(query.alias_map)
        change, n = {}, 0
        for alias in sorted(clash):
            while "O%d" % n in taken:
                n += 1
            change[alias] = "O%d" % n
            n += 1
        clone = query.relabeled_clone(change)
        _keep_multivalued_marks(query, clone)
        # Keep the FROM order (change_aliases appends the renamed ones).
        clone.alias_map = {change.get(a, a): clone.alias_map[change.get(a, a)]
                           for a in query.alias_map}
        self.query = clone
        self._ch_unshadowed = True

    def _unordered_slice(self):
        query = self.query
        return (query.is_sliced and query.subquery and query.model is not None
                and not query.combinator
                and query.group_by is None and not query.distinct
                and (query.select or query.default_cols)
                and not any(getattr(a, "contains_aggregate", False)
                            for a in query.annotation_select.values()))

    def get_combinator_sql(self, combinator, all):
        # ClickHouse wants UNION ALL or UNION DISTINCT, never a bare UNION.
        ops = self.connection.ops
        saved = ops.set_operators
        if combinator == "union" and not all:
            if not self.connection.features.supports_union_distinct:
                raise NotSupportedError(
                    "union() without all=True is UNION DISTINCT, which needs ClickHouse 19.18 "
                    "or later (server is %s); use union(..., all=True)."
                    % ".".join(map(str, self.connection.server_version)))
            ops.set_operators = {**saved, "union": "UNION DISTINCT"}
        try:
            result, params = super().get_combinator_sql(combinator, all)
        finally:
            ops.set_operators = saved
        if not self.query.subquery or self.query.is_sliced or self.query.order_by:
            # ClickHouse binds a trailing ORDER BY/LIMIT to the last SELECT
            # of a UNION (and cannot parse "(A) UNION (B) LIMIT 1" as a
            # subquery): select from the combined result instead.
            result = ["SELECT * FROM (%s)" % " ".join(result)]
        return result, params

    def get_from_clause(self):
        result, params = super().get_from_clause()
        prewhere = getattr(self.query, "prewhere", None)
        if prewhere is not None and prewhere.children:
            try:
                sql, p = self.compile(prewhere)
            except FullResultSet:
                sql = None
            if sql:
                result.append("PREWHERE %s" % sql)
                params = list(params) + list(p)
        return result, params

    def _group_by_outer_columns(self):
        """ClickHouse groups by no correlated subquery ("Correlated
        subqueries in aggregation keys are not supported"); Django groups by
        one that reads an outer column through a name with "__"
        (Query.get_group_by_cols), which may still have one value per outer
        row (a forward foreign key's column; a reverse one's key, equal to the
        outer id): grouped by those columns instead. A subquery reading a
        column with several values per outer row stays a key (refused)."""
        query = self.query
        if query.group_by is None or not _unmark_one_per_row(query):
            return
        if isinstance(query.group_by, tuple):
            query = self.query = query.clone()  # the QuerySet's own query is not changed
            query.group_by = tuple(_regrouped(query.group_by))

    def setup_query(self, *args, **kwargs):
        super().setup_query(*args, **kwargs)
        if not self.connection.features.has_query_analyzer and \
                not getattr(self.query, "subquery", False):
            renames = _colliding_aliases(self.query, self.select)
            if renames:
                self.select = [(e, s, renames.get(a, a)) for e, s, a in self.select]
                self.alias_renames = renames

    def execute_sql(self, *args, **kwargs):
        self._refuse_correlated(self.query)
        try:
            return super().execute_sql(*args, **kwargs)
        except DataError as exc:
            _explain_cast_checks(self, exc)

    def as_sql(self, with_limits=True, with_col_aliases=False):
        self._unshadow_outer_tables()
        self._group_by_outer_columns()
        sql, params = super().as_sql(with_limits, with_col_aliases)
        if not getattr(self.query, "subquery", False):
            s = _check_query_settings(self.connection, _query_settings(self))
            s.pop("mutations_sync", None)
            if s:
                sql = "%s %s" % (sql, self.connection.ops.settings_sql(s))
        return sql, params


def _own_sql_literal(expr):
    """A literal with its own SQL (Django 6.1's JSONNull, the JSON text null):
    it stays in the INSERT, compiled by Django (selected, it would come back as
    its Python value, None); _returned() gives its Python value."""
    return isinstance(expr, Value) and type(expr) is not Value


def _returned(field, value):
    # A literal left in the INSERT (see _prepare) returns its Python value.
    return field.to_python(value.value if isinstance(value, Value) else value)


class SQLInsertCompiler(compiler.SQLInsertCompiler):
    def _evaluate_default(self, field, expr):
        if isinstance(expr, Value):
            return expr.value
        from django.db.models.sql import Query
        q = Query(None)
        q.add_annotation(expr, "v")
        rows = list(q.get_compiler(connection=self.connection).results_iter())
        return rows[0][0]

    def pre_save_val(self, field, obj):
        value = super().pre_save_val(field, obj)
        if not self.query.raw and (getattr(field, "auto_now", False)
                                   or getattr(field, "auto_now_add", False)):
            # Generated here: whole seconds where the column keeps no more
            # (DateTimeField.pre_save guessed the database from the router).
            cut = cut_generated(field, value, self.connection)
            if cut is not value:
                setattr(obj, field.attname, cut)
                value = cut
        return value

    def _prepare(self):
        opts = self.query.get_meta()
        fields = list(self.query.fields)
        pk = opts.pk
        objs = self.query.objs
        if (pk is not None and isinstance(pk, AutoFieldMixin) and not self.query.raw
                and pk not in fields and objs):
            fields.append(pk)
            for obj in objs:
                if getattr(obj, pk.attname) is None:
                    setattr(obj, pk.attname, generate_id())
        # db_default values and expressions given as values (e.g. Now()) are
        # computed before the insert, one query per distinct expression:
        # ClickHouse has no DEFAULT keyword in VALUES and cannot return
        # inserted rows, and this way the objects get the values too.
        if not self.query.raw:
            cache = {}
            for field in fields:
                column = list(map(operator.attrgetter(field.attname), objs))
                if not _any_has(column, "resolve_expression"):
                    continue  # the common case: plain values only, nothing to compute
                for obj, value in zip(objs, column):
                    if isinstance(value, DatabaseDefault):
                        expr = value.expression if field.has_db_default() else None
                        if _own_sql_literal(expr):
                            setattr(obj, field.attname, expr)
                            continue
                    elif hasattr(value, "resolve_expression"):
                        # Django's checks first: no column references (F()),
                        # aggregates or window expressions in an INSERT.
                        self.prepare_value(field, value)
                        if _own_sql_literal(value):
                            continue
                        expr = value
                    else:
                        continue
                    if expr is None:
                        continue
                    try:
                        key = (field, expr)
                        hash(key)
                    except TypeError:  # an expression holding unhashable values
                        key = (field, id(expr))
                    if key not in cache:
                        cache[key] = self._evaluate_default(field, expr)
                    setattr(obj, field.attname, cache[key])
        return fields, objs

    def _head(self, fields):
        qn = self.connection.ops.quote_name
        head = "INSERT INTO %s (%s)" % (
            qn(self.query.get_meta().db_table), ", ".join(qn(f.column) for f in fields))
        s = _check_query_settings(self.connection, _query_settings(self))
        s.pop("mutations_sync", None)
        if s:
            head += " " + self.connection.ops.settings_sql(s)
        return head

    def _value_columns(self, fields, objs):
        """The prepared values, one list per field (field.pre_save() then
        field.get_db_prep_save(), as Django's prepare_value()), or None when a
        value is an expression or a field has its own placeholder: those take
        Django's generic path."""
        connection = self.connection
        if type(connection.ops).modify_insert_params is not BaseDatabaseOperations.modify_insert_params:
            return None
        raw = self.query.raw
        columns = []
        for field in fields:
            if getattr(field, "get_placeholder", None) is not None:
                return None
            if raw or getattr(field.pre_save, "__func__", None) is Field.pre_save:
                values = list(map(operator.attrgetter(field.attname), objs))
            else:
                values = [self.pre_save_val(field, obj) for obj in objs]
            types = set(map(type, values))
            if any(hasattr(t, "resolve_expression") for t in types):
                return None
            if not types <= _unchanged_types(field, connection):
                prep = field.get_db_prep_save
                values = [prep(v, connection) for v in values]
                if _any_has(values, "as_sql"):
                    return None
            connection.ops.check_write_range(values, field)
            columns.append(values)
        return columns

    def _value_rows(self, fields, objs):
        """Django's prepared values, row by row, with the written-integer range
        check (DatabaseOperations.check_write_range)."""
        rows = [[self.prepare_value(field, self.pre_save_val(field, obj)) for field in fields]
                for obj in objs]
        for i, field in enumerate(fields):
            self.connection.ops.check_write_range([r[i] for r in rows], field)
        return rows

    def _insert_plan(self):
        """What execute_sql() sends, as (sql, params, many): with plain values
        the prepared rows go to executemany(), whose C fast path formats the
        VALUES body; otherwise one statement built by Django's assemble_as_sql."""
        fields, objs = self._prepare()
        if not objs:
            return fields, objs, None
        columns = self._value_columns(fields, objs) if fields else None
        if columns is not None:
            sql = "%s VALUES (%s)" % (self._head(fields), ", ".join(["%s"] * len(fields)))
            return fields, objs, (sql, list(zip(*columns)), True)
        return fields, objs, self._generic_sql(fields, objs) + (False,)

    def _generic_sql(self, fields, objs):
        """One INSERT ... VALUES statement through Django's assemble_as_sql."""
        placeholder_rows, param_rows = self.assemble_as_sql(fields, self._value_rows(fields, objs))
        values = ", ".join("(%s)" % ", ".join(row) for row in placeholder_rows)
        return ("%s VALUES %s" % (self._head(fields), values),
                [p for row in param_rows for p in row])

    def as_sql(self):
        return [self._generic_sql(*self._prepare())]

    def _returning(self, objs, returning_fields):
        """The "returned" row of each object: its written values in the field's
        Python type, as a database's RETURNING gives them (pk="123456" comes
        back as 123456; Django 6.1 assigns them even when the pk was given)."""
        if not returning_fields:
            return []
        return [tuple(_returned(f, getattr(obj, f.attname)) for f in returning_fields)
                for obj in objs]

    def execute_sql(self, returning_fields=None):
        fields, objs, plan = self._insert_plan()
        if plan is None:
            return []
        sql, params, many = plan
        with self.connection.cursor() as cursor:
            if many:
                cursor.executemany(sql, params)  # one request for the whole batch
            else:
                cursor.execute(sql, params)
        return self._returning(objs, returning_fields)


# get_db_prep_save() returns these values unchanged (None, and exactly int for
# IntegerField, float for FloatField, str for CharField/TextField) as long as the
# field's class uses only Django's (or our) prep methods, listed here.
def _prep_methods():
    from django.db.models import fields as f

    from clickhouse_backend.models.fields.integer import IntegerFieldMixin
    from clickhouse_backend.models.fields.string import StringField

    common = {"get_db_prep_save": {f.Field}, "get_db_prep_value": {f.Field, f.IntegerField}}
    # IntegerFieldMixin only turns >64-bit *compared* values (prepared=True) into
    # text; what it saves is what IntegerField saves.
    integer = {"get_db_prep_save": {f.Field, IntegerFieldMixin},
               "get_db_prep_value": {f.Field, f.IntegerField, IntegerFieldMixin},
               "get_prep_value": {f.Field, f.IntegerField}}
    # (methods the class may take from these classes only, its get_prep_value, type)
    return [
        (integer, {f.IntegerField}, int),
        (dict(common, get_prep_value={f.Field, f.FloatField}), {f.FloatField}, float),
        (dict(common, get_prep_value={f.Field, f.CharField, f.TextField},
              to_python={f.Field, f.CharField, f.TextField, StringField}), {f.CharField, f.TextField}, str),
    ]


_PREP_METHODS = None
_unchanged_cache = {}


def _unchanged_types(field, connection):
    """The value types for which ``field.get_db_prep_save(v)`` is ``v`` itself."""
    global _PREP_METHODS
    key = (type(field), type(connection.ops))
    types = _unchanged_cache.get(key)
    if types is None:
        from .operations import DatabaseOperations

        if _PREP_METHODS is None:
            _PREP_METHODS = _prep_methods()
        types = frozenset()
        integer_ok = (type(connection.ops).adapt_integerfield_value
                      is DatabaseOperations.adapt_integerfield_value)
        cls = type(field)
        for methods, owners, tp in _PREP_METHODS:
            if tp is int and not integer_ok:
                continue
            if any(cls.get_prep_value is o.get_prep_value for o in owners) and all(name not in vars(c) or c in allowed
                   for name, allowed in methods.items() for c in cls.__mro__):
                types = frozenset((tp, type(None)))
                break
        _unchanged_cache[key] = types
    if any(name in field.__dict__ for name in
           ("get_db_prep_save", "get_db_prep_value", "get_prep_value", "to_python")):
        return frozenset()
    return types


def _any_has(values, attr):
    """Whether a value of ``values`` has ``attr`` (expressions: resolve_expression,
    as_sql), tested once per distinct type rather than once per value."""
    return any(hasattr(t, attr) for t in set(map(type, values)))


def _target_type(field):
    """The field whose type a column holds (a foreign key's target's)."""
    while getattr(field, "remote_field", None) is not None and getattr(field, "target_field", None):
        field = field.target_field
    return field


def _check_range(connection, field, values):
    connection.ops.check_write_range([v for v in values if v is not None], field)


def _check_not_null(connection, field, values):
    if values[0]:
        from django.db import IntegrityError
        raise IntegrityError(
            "NULL in %s: the value computed for some of the rows to update is NULL and the "
            "column (%s) is not Nullable." % (field.name, field.db_type(connection)))


def _check_fixed_length(connection, field, values):
    size = int(re.search(r"FixedString\((\d+)\)", field.db_type(connection)).group(1))
    if values[0] is not None and values[0] > size:
        raise DataError("%s: a value computed for the rows to update has %d bytes, more than "
                        "its column (FixedString(%d)) holds." % (field.name, values[0], size))


def _may_be_null(expr):
    """Whether an UPDATE expression can be NULL: it reads a nullable column,
    has a NULL literal (a Case without default) or a subquery."""
    from django.db.models import Subquery
    from django.db.models.expressions import Col
    from django.db.models.functions import NullIf
    for e in expr.flatten():
        if (isinstance(e, Col) and getattr(e.target, "null", False)) or isinstance(e, (NullIf, Subquery)) \
                or (isinstance(e, Value) and e.value is None):
            return True
    return False


def _write_checks(field, expr, sql, connection):
    """The checks of an UPDATE expression computed by the server, read before
    the mutation over the rows to update, as (aggregates, how many values,
    verify, how many times they hold the expression's SQL):
    ClickHouse would store an integer wrapped (-1 in a UInt32 as 4294967295),
    a Decimal past its digits while its storage type holds it (2 * 999999.999
    in a Decimal(9, 3)); a NULL into a column that is not Nullable and a
    string too long for a FixedString fail the mutation itself (18.16 reports
    no failure, and a failed mutation blocks the table's later ones)."""
    from .operations import _INT_RANGES
    target = _target_type(field)
    internal = target.get_internal_type()
    checks = []
    if internal in _INT_RANGES or internal == "DecimalField":
        checks.append(("min(%s), max(%s)" % (sql, sql), 2, _check_range, 2))
    db_type = field.db_type(connection) or ""
    # field.null: db_type() is the type without the Nullable() the column gets
    if not field.null and _may_be_null(expr):
        checks.append(("max(isNull(%s))" % sql, 1, _check_not_null, 1))
    if re.match(r"(LowCardinality\()?FixedString\(", db_type):
        checks.append(("max(length(%s))" % sql, 1, _check_fixed_length, 1))
    return checks


class MutationMixin:
    """UPDATE/DELETE become ALTER TABLE mutations (or lightweight DELETE).

    ClickHouse does not report affected rows, so they are counted first with
    the same condition; a mutation with nothing to do is not sent."""

    def quote_name_unless_alias(self, name):
        if name == self.query.base_table:
            return _MARK
        return super().quote_name_unless_alias(name)

    if hasattr(compiler.SQLCompiler, "quote_name"):
        # Django 6.1 compiles columns with quote_name() (quote_name_unless_alias()
        # is deprecated and only calls it).
        def quote_name(self, name):
            if name == self.query.base_table:
                return _MARK
            return super().quote_name(name)

    def _where_sql(self, query):
        try:
            where, params = self.compile(query.where)
        except FullResultSet:
            return "1", []
        return where, list(params)

    @staticmethod
    def _unmark(sql):
        return sql.replace(_MARK + ".", "")

    def _table(self):
        return self.connection.ops.quote_name(self.query.base_table)

    def _mutation_target(self):
        engine = getattr(self.query.model._meta, "engine", None)
        table = self._table()
        cluster = getattr(self.query.model._meta, "cluster", None)
        if engine is not None and isinstance(engine, Distributed):
            table = self.connection.ops.quote_name(engine.table)
            cluster = engine.cluster
        elif engine is not None and not engine.supports_mutations():
            raise NotSupportedError(
                "%s tables do not support UPDATE/DELETE." % type(engine).__name__)
        on_cluster = (" ON CLUSTER %s" % self.connection.ops.quote_name(cluster)
                      if cluster else "")
        return table, on_cluster

    def _mutation_wait_steps(self, table):
        """Wait for the mutations on ``table`` when mutations_sync asks for it: a
        step generator (see _mutation_steps)."""
        level = self.connection.mutations_sync_requested(_query_settings(self))
        if not level:
            return
        if "mutations_sync" in (self.connection.effective_settings or {}) and \
                "mutations_sync" not in _query_settings(self):
            return  # the server already waited
        yield from mutation_wait_steps(self.connection, table)

    def _materialize_subqueries(self):
        return not self.connection.features.mutations_take_subquery_joins

    def _mutation_steps(self, sql, params, where, where_params):
        """The statements of one UPDATE/DELETE, without their I/O: a generator
        that yields steps ``(FETCHALL | FETCHONE | EXECUTE, sql, params)`` or
        ``(SLEEP, seconds, None)``, is sent each step's result (rows, a row or
        None) and returns the number of matching rows. run_steps() drives it on
        a cursor (the async ORM's too: backend/bridge.py)."""
        if not sql:
            return 0
        table = self._table()
        if self._materialize_subqueries() and "SELECT" in where:
            # Select the matching keys now; the mutation names them.
            pk = self.connection.ops.quote_name(self.query.get_meta().pk.column)
            rows = yield (FETCHALL, "SELECT %s FROM %s WHERE %s" % (pk, table, where), where_params)
            count = len(rows)
            keys = sorted({r[0] for r in rows})
            if count:
                params = list(params)[:len(params) - len(where_params)] + keys
                sql = "%s%s IN (%s)" % (sql[:len(sql) - len(where)], pk,
                                        ", ".join(["%s"] * len(keys)))
        else:
            (count,) = yield (FETCHONE, "SELECT count() FROM %s WHERE %s" % (table, where),
                              where_params)
        checks = getattr(self, "_range_checks", None)
        if count and checks:
            # Server-computed integers: refused before the mutation when out of range.
            row = yield (FETCHONE, "SELECT %s FROM %s WHERE %s" % (
                ", ".join(c[1] for c in checks), table, where),
                [p for c in checks for p in c[2]] + list(where_params))
            i = 0
            for field, _, _, n, verify in checks:
                verify(self.connection, field, row[i:i + n])
                i += n
        if count:
            yield (EXECUTE, sql, params)
            if not sql.startswith("DELETE FROM"):
                yield from self._mutation_wait_steps(self._mutation_target()[0])
        return count

    def _run(self, sql, params, where, where_params):
        with self.connection.cursor() as cursor:
            try:
                return run_steps(self._mutation_steps(sql, params, where, where_params), cursor)
            except DataError as exc:
                _explain_cast_checks(self, exc)


def mutation_wait_steps(connection, table):
    """Steps that wait until the mutations on ``table`` (a quoted name) are done;
    used by the UPDATE/DELETE compilers and the schema editor."""
    from django.db import DatabaseError, OperationalError
    # Servers that do not report failures: give up when it stops progressing.
    reports_failures = connection.features.reports_mutation_failures
    reason_sql = "any(latest_fail_reason)" if reports_failures else "''"
    now = time.monotonic()
    deadline = now + MUTATION_WAIT_TIMEOUT
    progress = (None, now)  # (parts_to_do, when it last changed)
    delay = 0.005
    name = table.strip('"').replace('\\"', '"')
    while True:
        pending, parts, reason = yield (FETCHONE, (
            "SELECT count(), sum(parts_to_do), %s FROM system.mutations "
            "WHERE database = currentDatabase() AND table = %%s AND is_done = 0"
            % reason_sql), [name])
        if not pending:
            return
        if reason:
            raise DatabaseError("Mutation on %s failed: %s" % (table, reason))
        now = time.monotonic()
        if parts != progress[0]:
            progress = (parts, now)
        elif not reports_failures and now - progress[1] > MUTATION_STALL_TIMEOUT:
            raise OperationalError(
                "Mutation on %s made no progress for %ss: ClickHouse %s does not report "
                "mutation failures, see its server log." % (
                    table, MUTATION_STALL_TIMEOUT,
                    ".".join(map(str, connection.server_version))))
        if now > deadline:
            raise OperationalError("Mutation on %s not done after %ss."
                                   % (table, MUTATION_WAIT_TIMEOUT))
        yield (SLEEP, delay, None)
        delay = min(delay * 2, 0.2)


# Steps of MutationMixin._mutation_steps().
FETCHALL, FETCHONE, EXECUTE, SLEEP = "fetchall", "fetchone", "execute", "sleep"


def next_step(steps, result):
    """Send ``result`` to a step generator: ``(next step, None)``, or ``(None,
    its return value)`` when it is done."""
    try:
        return steps.send(result), None
    except StopIteration as stop:
        return None, stop.value


def run_steps(steps, cursor):
    """Drive a step generator (MutationMixin._mutation_steps) on a sync cursor."""
    step, value = next_step(steps, None)
    while step is not None:
        kind, sql, params = step
        result = None
        if kind == SLEEP:
            bridge.sleep(sql)  # awaited when the async ORM runs this on the loop
        else:
            cursor.execute(sql, params)
            if kind == FETCHALL:
                result = cursor.fetchall()
            elif kind == FETCHONE:
                result = cursor.fetchone()
        step, value = next_step(steps, result)
    return value


class SQLDeleteCompiler(MutationMixin, CompileMixin, compiler.SQLDeleteCompiler):
    def _as_sql(self, query):
        where, params = self._where_sql(query)
        where = self._unmark(where)
        self._where = (where, params)
        table, on_cluster = self._mutation_target()
        engine = getattr(self.query.model._meta, "engine", None)
        if (self.connection.features.supports_lightweight_delete and not on_cluster
                and (engine is None or engine.is_merge_tree())):
            sql = "DELETE FROM %s WHERE %s" % (table, where)
        else:
            sql = "ALTER TABLE %s%s DELETE WHERE %s" % (table, on_cluster, where)
        return sql, tuple(params)

    def execute_sql(self, result_type=MULTI):
        try:
            sql, params = self.as_sql()
        except EmptyResultSet:
            return 0
        where, where_params = self._where
        return self._run(sql, params, where, where_params)


class SQLUpdateCompiler(MutationMixin, CompileMixin, compiler.SQLUpdateCompiler):
    def as_sql(self):
        self.pre_sql_setup()
        if not self.query.values:
            return "", ()
        qn = self.connection.ops.quote_name
        values, update_params = [], []
        self._range_checks = []
        for field, model, val in self.query.values:
            if hasattr(val, "resolve_expression"):
                val = val.resolve_expression(self.query, allow_joins=False, for_save=True)
                val = _fit_results(val, field, self.connection)
                if val.contains_aggregate:
                    raise FieldError("Aggregate functions are not allowed in this query "
                                     "(%s=%r)." % (field.name, val))
                if val.contains_over_clause:
                    raise FieldError("Window expressions are not allowed in this query "
                                     "(%s=%r)." % (field.name, val))
            elif hasattr(val, "prepare_database_save"):
                if field.remote_field:
                    val = val.prepare_database_save(field)
                else:
                    raise TypeError("Tried to update field %s with a model instance, %r. "
                                    "Use a value compatible with %s."
                                    % (field, val, field.__class__.__name__))
            val = field.get_db_prep_save(val, connection=self.connection)
            self.connection.ops.check_write_range([val], field)
            placeholder = (field.get_placeholder(val, self, self.connection)
                           if hasattr(field, "get_placeholder") else "%s")
            name = qn(field.column)
            if (not self.connection.features.can_update_enum_columns
                    and "Enum" in (field.db_type(self.connection) or "")):
                raise NotSupportedError(
                    "updating the Enum column %s needs ClickHouse %s or later (server is %s): its "
                    "mutations cannot write Enum columns; save(update_fields=[...]) without it"
                    % (field.column, ".".join(map(str, type(self.connection.features)
                                                  .can_update_enum_columns.version)),
                       ".".join(map(str, self.connection.server_version))))
            if hasattr(val, "as_sql"):
                noted = len(self.__dict__.get("cast_checks", ()))
                sql, params = self.compile(val)
                checks = _write_checks(field, val, self._unmark(sql), self.connection)
                if not checks and len(self.__dict__.get("cast_checks", ())) > noted:
                    # A checked Cast inside: evaluated on the rows to update only.
                    checks = [("any(%s)" % self._unmark(sql), 1, lambda *args: None, 1)]
                for check, n, verify, repeats in checks:
                    self._range_checks.append((field, check, list(params) * repeats, n, verify))
                if len(self.__dict__.get("cast_checks", ())) > noted:
                    # The mutation evaluates the value on every row of the
                    # parts it rewrites (18.16: if(where, value, column)), so
                    # a Cast's check would refuse rows it does not update:
                    # it is unchecked there, the rows to update were checked
                    # by the read above.
                    self.unchecked_casts = True
                    try:
                        sql, params = self.compile(val)
                    finally:
                        self.unchecked_casts = False
                # Converted to the column's type: the mutation needs a common
                # type with the old value (F("n") / 2 is a Float64 here).
                sql = _typed_placeholder(field.db_type(self.connection), placeholder % sql)
                values.append("%s = %s" % (name, sql))
                update_params.extend(params)
            elif val is not None:
                placeholder = _typed_placeholder(field.db_type(self.connection), placeholder)
                if type(val) is int and not -2**63 <= val < 2**64:
                    val = str(val)  # toInt128('...'): a bare literal that long is a Float64
                values.append("%s = %s" % (name, placeholder))
                update_params.append(val)
            else:
                values.append("%s = NULL" % name)
        where, params = self._where_sql(self.query)
        where = self._unmark(where)
        self._where = (where, params)
        table, on_cluster = self._mutation_target()
        sql = "ALTER TABLE %s%s UPDATE %s WHERE %s" % (
            table, on_cluster, self._unmark(", ".join(values)), where)
        return sql, tuple(update_params) + tuple(params)

    def execute_sql(self, result_type):
        try:
            sql, params = self.as_sql()
        except EmptyResultSet:
            sql = ""
        count = 0
        if sql:
            where, where_params = self._where
            count = self._run(sql, params, where, where_params)
        for query in self.query.get_related_updates():
            aux = query.get_compiler(self.using).execute_sql(result_type)
            if not count and aux:
                count = aux
        return count


class SQLAggregateCompiler(CompileMixin, compiler.SQLAggregateCompiler):
    def execute_sql(self, *args, **kwargs):
        self._refuse_correlated(self.query)
        self._refuse_correlated(self.query.inner_query)
        try:
            return super().execute_sql(*args, **kwargs)
        except DataError as exc:
            _explain_cast_checks(self, exc)

    def as_sql(self):
        select_merged_states(self.query)
        # The outer query's SETTINGS take those its aggregates and the
        # subquery's ask for (-Merge aggregates: aggregate_functions_null_for_empty).
        with collecting_settings(self):
            sql, params = super().as_sql()
        s = _check_query_settings(self.connection, _query_settings(self))
        s.pop("mutations_sync", None)
        if s:
            sql = "%s %s" % (sql, self.connection.ops.settings_sql(s))
        return sql, params


__all__ = ["SQLCompiler", "SQLInsertCompiler", "SQLDeleteCompiler", "SQLUpdateCompiler",
           "SQLAggregateCompiler", "SINGLE"]
