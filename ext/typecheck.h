/* Refusing, value by value, what a ClickHouse column would store wrapped or cut
 * (2**70 into Int64, 300 into UInt8, 1.005 into Decimal(9, 2), 2106 into DateTime).
 * Which check a column type needs is decided in Python (driver/typecheck.py compiles
 * a spec per column from DESCRIBE TABLE); the per-value work runs here, inside
 * format_rows(), which visits every value anyway. GIL held. */
#ifndef CHB_TYPECHECK_H
#define CHB_TYPECHECK_H
#include <Python.h>

typedef struct tc_check tc_check;

/* Import the datetime C API and cache what the checks need; 0, or -1 with an exception. */
int tc_init(void);
/* checks: a sequence with one entry per column, None (no check) or (name, type_name, spec),
 * the spec format being driver/typecheck.py's. Returns an array of *n checks (free with
 * tc_free), or NULL with an exception (TypeError/ValueError for a malformed spec). */
tc_check *tc_compile(PyObject *checks, Py_ssize_t *n);
void tc_free(tc_check *checks, Py_ssize_t n);
/* 0 if value v of row `row` fits column `col` of checks[0..n) (or the column has no check),
 * -1 with an exception: DataError "row R, column 'name' (type): problem; nothing was
 * inserted", or whatever a value's own Python code raised. */
int tc_value(const tc_check *checks, Py_ssize_t n, Py_ssize_t col, PyObject *v, Py_ssize_t row);
/* Days since 1970-01-01 of a proleptic Gregorian date. */
long long tc_days_from_civil(long long y, unsigned m, unsigned d);
/* Microseconds since 1970-01-01 00:00 of a datetime's wall fields (its tzinfo ignored). */
long long tc_epoch_us(PyObject *dt);
#endif
