"""Other functions of ClickHouse."""
from .. import fields
from .base import Func, check_arity, literal, require

__all__ = ["currentDatabase", "hostName", "generateSerialID", "Length", "ArrayJoin",
           "CurrentDatabase"]


class currentDatabase(Func):
    arity = 0
    output_field = fields.StringField()


class hostName(Func):
    arity = 0
    output_field = fields.StringField()


class generateSerialID(Func):
    """generateSerialID(name[, start]): the next number of the series `name`
    (kept in ZooKeeper/Keeper). The start of a new series needs 25.10."""
    output_field = fields.UInt64Field()
    requires = "has_generate_serial_id"

    def __init__(self, *expressions, **extra):
        check_arity(self, expressions, 1, 2)
        super().__init__(*map(literal, expressions), **extra)

    def check_support(self, connection):
        super().check_support(connection)
        if len(self.get_source_expressions()) == 2:
            require(connection, "has_generate_serial_id_start",
                    "generateSerialID() with a start value")


class Length(Func):
    function = "length"
    arity = 1
    output_field = fields.UInt64Field()


class ArrayJoin(Func):
    function = "arrayJoin"
    arity = 1


CurrentDatabase = currentDatabase  # the name clickhouse_backend used before
