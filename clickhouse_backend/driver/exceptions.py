"""PEP 249 exceptions. Defined here, in Python, and handed to the C engine at import.

Every error carries what the server or the engine said: ``code`` (the ClickHouse
error code, or None), ``http_status`` and ``query_id``.
"""


class Warning(Exception):  # noqa: A001 - the name is fixed by PEP 249
    pass


class Error(Exception):
    def __init__(self, message="", *, code=None, http_status=None, query_id=None, kind=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.query_id = query_id
        self.kind = kind


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


class PoolTimeout(OperationalError):
    """No pooled connection became free within ``pool_timeout``."""


# ClickHouse error codes (src/Common/ErrorCodes.cpp) -> PEP 249 class.
_PROGRAMMING = {
    16,   # NO_SUCH_COLUMN_IN_TABLE
    36,   # BAD_ARGUMENTS
    42,   # NUMBER_OF_ARGUMENTS_DOESNT_MATCH
    43,   # ILLEGAL_TYPE_OF_ARGUMENT
    44,   # ILLEGAL_COLUMN
    46,   # UNKNOWN_FUNCTION
    47,   # UNKNOWN_IDENTIFIER
    50,   # UNKNOWN_TYPE
    57,   # TABLE_ALREADY_EXISTS
    60,   # UNKNOWN_TABLE
    62,   # SYNTAX_ERROR
    63,   # UNKNOWN_AGGREGATE_FUNCTION
    73,   # UNKNOWN_FORMAT
    81,   # UNKNOWN_DATABASE
    82,   # DATABASE_ALREADY_EXISTS
    107,  # FILE_DOESNT_EXIST
    113,  # THERE_IS_NO_DEFAULT_VALUE
    115,  # UNKNOWN_SETTING
    164,  # READONLY
    179,  # MULTIPLE_EXPRESSIONS_FOR_ALIAS
    184,  # ILLEGAL_AGGREGATION
    215,  # NOT_AN_AGGREGATE
    352,  # AMBIGUOUS_COLUMN_NAME
    386,  # NO_COMMON_TYPE
    497,  # ACCESS_DENIED
}
_DATA = {
    6,    # CANNOT_PARSE_TEXT
    26,   # CANNOT_PARSE_QUOTED_STRING
    27,   # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    38,   # CANNOT_PARSE_DATE
    41,   # CANNOT_PARSE_DATETIME
    53,   # TYPE_MISMATCH
    69,   # ARGUMENT_OUT_OF_BOUND
    70,   # CANNOT_CONVERT_TYPE
    72,   # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA
    153,  # ILLEGAL_DIVISION
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    395,  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO
    407,  # DECIMAL_OVERFLOW
}
_OPERATIONAL = {
    3,    # UNEXPECTED_END_OF_FILE
    159,  # TIMEOUT_EXCEEDED
    160,  # TOO_SLOW
    192,  # UNKNOWN_USER
    193,  # WRONG_PASSWORD
    194,  # REQUIRED_PASSWORD
    195,  # IP_ADDRESS_NOT_ALLOWED
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY
    252,  # TOO_MANY_PARTS
    394,  # QUERY_WAS_CANCELLED
    516,  # AUTHENTICATION_FAILED
}
_INTEGRITY = {
    349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN (a NOT NULL violation)
    469,  # VIOLATED_CONSTRAINT
}
_NOT_SUPPORTED = {1, 48, 344}  # UNSUPPORTED_METHOD, NOT_IMPLEMENTED, SUPPORT_IS_DISABLED


def class_for_code(code):
    if code in _PROGRAMMING:
        return ProgrammingError
    if code in _DATA:
        return DataError
    if code in _OPERATIONAL:
        return OperationalError
    if code in _INTEGRITY:
        return IntegrityError
    if code in _NOT_SUPPORTED:
        return NotSupportedError
    return DatabaseError


_KIND_CLASS = {
    "connect": OperationalError,
    "network": OperationalError,
    "timeout": OperationalError,
    "cancelled": OperationalError,
    "pool_timeout": PoolTimeout,
    "protocol": InterfaceError,
    "malformed": InterfaceError,
    "unsupported": NotSupportedError,
    "internal": InternalError,
    "limit": OperationalError,
}


def _is_null_violation(code, message):
    """NULL inserted into a non-Nullable column: a NOT NULL violation, whose
    code is a generic one (TYPE_MISMATCH on 2x.x with input_format_null_as_
    default=0; 18.16: a range error "Expression returns value NULL")."""
    message = message or ""
    return (code == 53 and "Cannot insert NULL value into a column" in message) or (
        code == 321 and "returns value NULL" in message)


def make_error(kind, code, message, http_status, query_id):
    """Called by the C engine to build the exception for a failed request."""
    if kind == "server":
        cls = class_for_code(code)
        if http_status in (401, 403) and cls is DatabaseError:
            cls = OperationalError
        elif _is_null_violation(code, message):
            cls = IntegrityError
    else:
        cls = _KIND_CLASS.get(kind, InternalError)
    return cls(message, code=code or None, http_status=http_status or None, query_id=query_id, kind=kind)


def from_python_error(error, sent):
    """The PEP 249 error for a Python exception raised by execute/executemany/fetch
    (the caller chains the original as __cause__). Values that cannot be sent or
    read (a lone surrogate, a number out of range) are DataError; before anything
    was sent, any other is the caller's arguments (a wrong type, a missing
    parameter, a NUL in a query_id): ProgrammingError; after, InterfaceError."""
    if isinstance(error, (UnicodeError, ArithmeticError)) or sent and isinstance(error, ValueError):
        cls = DataError
    elif not sent:
        cls = ProgrammingError
    else:
        cls = InterfaceError
    return cls(f"{type(error).__name__}: {error}", kind="client")


CLASSES = {
    name: obj for name, obj in globals().items()
    if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == __name__
}

__all__ = sorted(CLASSES)
