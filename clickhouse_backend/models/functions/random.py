"""Random functions of ClickHouse."""
from django.db import models

from .. import fields
from .base import Func

__all__ = ["Rand", "GenerateUUIDv4"]


class Rand(Func):
    function = "rand"
    arity = 0
    output_field = fields.UInt32Field()


class GenerateUUIDv4(Func):
    function = "generateUUIDv4"
    arity = 0
    output_field = models.UUIDField()
