import json

from django.db.models import Transform, fields

from .base import FieldMixin

__all__ = ["JSONField"]


class JSONField(FieldMixin, fields.Field):
    """JSON document.  Stored as a String column holding JSON text on every
    server version (portable; the JSON type's schema inference changes
    values).  ``field__key__sub`` extracts with JSONExtractRaw (19.4+) and
    compares JSON text, so filter(data__a=1) and filter(data__b="x") work."""
    empty_strings_allowed = False

    def __init__(self, *args, encoder=None, decoder=None, **kwargs):
        self.encoder = encoder
        self.decoder = decoder
        super().__init__(*args, **kwargs)

    def get_internal_type(self):
        return "ClickhouseJSONField"

    def base_db_type(self, connection):
        return "String"

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        if hasattr(value, "as_sql"):
            return value
        return json.dumps(value, cls=self.encoder, separators=(",", ":"))

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return None
        try:
            return json.loads(value, cls=self.decoder)
        except json.JSONDecodeError:
            return value

    def get_transform(self, name):
        transform = super().get_transform(name)
        if transform:
            return transform
        return _KeyFactory(name)


class JSONKey(Transform):
    def __init__(self, key, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key = key

    def as_sql(self, compiler, connection):
        keys = [self.key]
        lhs = self.lhs
        while isinstance(lhs, JSONKey):
            keys.insert(0, lhs.key)
            lhs = lhs.lhs
        sql, params = compiler.compile(lhs)
        path = []
        for k in keys:
            if k.isdigit():
                path.append("%d" % (int(k) + 1))
            else:
                path.append("%s")
                params = (*params, k)
        return "JSONExtractRaw(%s, %s)" % (sql, ", ".join(path)), tuple(params)

    @property
    def output_field(self):
        return JSONField()


class _KeyFactory:
    def __init__(self, key):
        self.key = key

    def __call__(self, *args, **kwargs):
        return JSONKey(self.key, *args, **kwargs)
