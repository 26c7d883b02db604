"""A few ClickHouse functions as Django expressions."""
from django.db import models
from django.db.models import Func

__all__ = ["Rand", "CurrentDatabase", "currentDatabase", "ToYYYYMM", "toYYYYMM",
           "ToStartOfMonth", "ToStartOfDay", "CityHash64", "Length", "ArrayJoin",
           "GenerateUUIDv4"]


class Rand(Func):
    function = "rand"
    arity = 0
    output_field = models.PositiveIntegerField()


class CurrentDatabase(Func):
    function = "currentDatabase"
    arity = 0
    output_field = models.TextField()


class ToYYYYMM(Func):
    function = "toYYYYMM"
    arity = 1
    output_field = models.PositiveIntegerField()


class ToStartOfMonth(Func):
    function = "toStartOfMonth"
    arity = 1
    output_field = models.DateField()


class ToStartOfDay(Func):
    function = "toStartOfDay"
    arity = 1
    output_field = models.DateTimeField()


class CityHash64(Func):
    function = "cityHash64"
    output_field = models.PositiveBigIntegerField()


class Length(Func):
    function = "length"
    arity = 1
    output_field = models.PositiveBigIntegerField()


class ArrayJoin(Func):
    function = "arrayJoin"
    arity = 1


class GenerateUUIDv4(Func):
    function = "generateUUIDv4"
    arity = 0
    output_field = models.UUIDField()


# django-clickhouse-backend spellings.
currentDatabase = CurrentDatabase
toYYYYMM = ToYYYYMM
