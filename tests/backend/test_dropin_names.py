"""Every public name django-clickhouse-backend users import (issue 13 §1): each
is importable from its path and from ``clickhouse_backend.models``, and runs on
the server (18.16 in CI) and on the embedded engine (chDB). A function the
server is too old for raises NotSupportedError naming the release it needs and
the server's. Results are checked against independent oracles (hashlib, a
SipHash-2-4 written here, datetime arithmetic, the data written)."""
import datetime
import hashlib
import importlib
import json
import socket
import struct
import uuid
import zoneinfo

import django.db.models.indexes
import pytest
from django.db import DatabaseError, NotSupportedError, connections, models as dj
from django.db.models import F, Value

from clickhouse_backend import models
from tests.backend.conftest import temp_model

UTC = datetime.timezone.utc
ALIASES = ["default", "embedded"]

NAMES = {
    "clickhouse_backend.models.functions.datetime": [
        "toYYYYMM", "toYYYYMMDD", "toYYYYMMDDhhmmss", "toStartOfMinute", "toStartOfFiveMinutes",
        "toStartOfTenMinutes", "toStartOfFifteenMinutes", "toStartOfHour", "toStartOfDay",
        "toStartOfMonth", "toStartOfQuarter", "toStartOfYear", "toStartOfWeek", "toYearWeek",
        "ULIDStringToDateTime"],
    "clickhouse_backend.models.functions.json": [
        "JSONAllPaths", "JSONAllPathsWithTypes", "JSONAllValues", "JSONLength", "JSONMergePatch",
        "JSONSharedDataPaths", "dynamicType", "isValidJSON", "toJSONString"],
    "clickhouse_backend.models.functions.hashes": [
        "halfMD5", "MD4", "MD5", "SHA1", "SHA224", "SHA256", "SHA512", "SHA512_256", "BLAKE3",
        "sipHash64", "sipHash64Keyed", "sipHash128", "sipHash128Keyed", "sipHash128Reference",
        "sipHash128ReferenceKeyed", "cityHash64", "farmHash64", "farmFingerprint64",
        "intHash32", "intHash64", "URLHash"],
    "clickhouse_backend.models.functions.tuples": ["Tuple", "tupleElement"],
    "clickhouse_backend.models.functions.random": ["Rand"],
    "clickhouse_backend.models.functions.other": ["currentDatabase", "hostName",
                                                  "generateSerialID"],
    "clickhouse_backend.models.aggregates": [
        "uniq", "uniqExact", "uniqCombined", "uniqCombined64", "uniqHLL12", "uniqTheta",
        "anyLast", "argMax", "groupUniqArray"],
}


def test_every_name_importable_from_its_path_and_models():
    for path, names in NAMES.items():
        module = importlib.import_module(path)
        for name in names:
            obj = getattr(module, name)
            assert getattr(models, name) is obj, name
            assert name in module.__all__
            assert obj.function == (
                "toStartOfFiveMinute" if name == "toStartOfFiveMinutes" else
                "tuple" if name == "Tuple" else "rand" if name == "Rand" else name)
    # Kept from the single-module functions.py (migrations reference them).
    from clickhouse_backend.models.functions import (  # noqa: F401
        ArrayJoin, CityHash64, CurrentDatabase, GenerateUUIDv4, Length, ToStartOfDay,
        ToStartOfMonth, ToYYYYMM, currentDatabase, toYYYYMM)
    from clickhouse_backend.models.fields.map import KeyTransform
    from clickhouse_backend.models.indexes import IndexExpression
    assert IndexExpression is django.db.models.indexes.IndexExpression
    assert models.MapField(models.StringField(), models.UInt8Field()).get_transform(
        "k")(F("m")).__class__ is KeyTransform


# ---- a table on each target ---------------------------------------------------

ROWS = [
    # name, n, at
    ("alpha", 7, datetime.datetime(2021, 3, 14, 15, 9, 26, tzinfo=UTC)),
    ("b\x00", 250, datetime.datetime(2020, 1, 2, 23, 59, 59, tzinfo=UTC)),
    ("", 0, datetime.datetime(2019, 12, 29, 0, 0, 0, tzinfo=UTC)),
]


def _model():
    return temp_model("dropin", models.ClickhouseModel, s=models.StringField(),
                      n=models.UInt32Field(), at=models.DateTimeField(), day=models.DateField())


@pytest.fixture(params=ALIASES, scope="module")
def target(request):
    request.getfixturevalue("db" if request.param == "default" else "edb")
    conn = connections[request.param]
    Model = _model()
    with conn.schema_editor() as editor:
        editor.create_model(Model)
    objs = Model.objects.using(request.param)
    objs.bulk_create([Model(s=s, n=n, at=at, day=at.date()) for s, n, at in ROWS])
    try:
        yield conn, objs
    finally:
        with conn.schema_editor() as editor:
            editor.delete_model(Model)


def _values(objs, expr):
    """{s: value of expr} over the rows."""
    return dict(objs.annotate(v=expr).values_list("s", "v"))


def _server_has(conn, name):
    with conn.cursor() as cur:
        cur.execute("SELECT count() FROM system.functions WHERE name = %s", [name])
        return cur.fetchone()[0] > 0


def _run(conn, objs, flag, expr, name=None):
    """The values of expr, or None after checking the refusal: NotSupportedError
    naming both versions where the feature flag is false; the server's own
    error where a build lacks the function (chDB is built without some
    contrib libraries)."""
    if flag and not getattr(conn.features, flag):
        version = ".".join(map(str, getattr(type(conn.features), flag).version))
        with pytest.raises(NotSupportedError, match=r"needs ClickHouse %s or later \(server is %s\)"
                           % (version, ".".join(map(str, conn.server_version)))):
            _values(objs, expr)
        return None
    if name and not _server_has(conn, name):
        with pytest.raises(DatabaseError, match=name):
            _values(objs, expr)
        return None
    return _values(objs, expr)


# ---- date and time --------------------------------------------------------------

def _floor(at, minutes):
    return at.replace(minute=at.minute - at.minute % minutes, second=0, microsecond=0)


DATETIME_CASES = [
    ("toYYYYMMDD", None, lambda at: at.year * 10000 + at.month * 100 + at.day),
    ("toYYYYMMDDhhmmss", None, lambda at: int(at.strftime("%Y%m%d%H%M%S"))),
    ("toYYYYMM", None, lambda at: at.year * 100 + at.month),
    ("toStartOfMinute", None, lambda at: _floor(at, 1)),
    ("toStartOfFiveMinutes", None, lambda at: _floor(at, 5)),
    ("toStartOfTenMinutes", "has_to_start_of_ten_minutes", lambda at: _floor(at, 10)),
    ("toStartOfFifteenMinutes", None, lambda at: _floor(at, 15)),
    ("toStartOfHour", None, lambda at: _floor(at, 60)),
    ("toStartOfDay", None, lambda at: at.replace(hour=0, minute=0, second=0)),
    ("toStartOfMonth", None, lambda at: at.date().replace(day=1)),
    ("toStartOfQuarter", None, lambda at: at.date().replace(day=1, month=(at.month - 1) // 3 * 3 + 1)),
    ("toStartOfYear", None, lambda at: at.date().replace(day=1, month=1)),
    # mode 0: weeks start on Sunday
    ("toStartOfWeek", "has_to_start_of_week",
     lambda at: at.date() - datetime.timedelta(days=(at.weekday() + 1) % 7)),
]


def _year_week_mode0(d):
    """MySQL YEARWEEK(d, 0): weeks start on Sunday, week 1 holds the year's first Sunday."""
    sunday = d - datetime.timedelta(days=(d.weekday() + 1) % 7)
    jan1 = datetime.date(sunday.year, 1, 1)
    first_sunday = jan1 + datetime.timedelta(days=(6 - jan1.weekday()) % 7)
    return sunday.year * 100 + (sunday - first_sunday).days // 7 + 1


@pytest.mark.parametrize("name,flag,oracle", DATETIME_CASES, ids=[c[0] for c in DATETIME_CASES])
def test_datetime_functions(target, name, flag, oracle):
    conn, objs = target
    got = _run(conn, objs, flag, getattr(models, name)("at"))
    if got is not None:
        assert got == {s: oracle(at) for s, _, at in ROWS}


def test_datetime_functions_with_time_zone(target):
    conn, objs = target
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    got = _values(objs, models.toYYYYMMDD("at", "Asia/Tokyo"))
    assert got == {s: int(at.astimezone(tokyo).strftime("%Y%m%d")) for s, _, at in ROWS}
    got = _values(objs, models.toStartOfHour("at", "Asia/Tokyo"))
    assert got == {s: _floor(at, 60) for s, _, at in ROWS}
    # A time zone with a Date argument is dropped (18.16 rejects it; it
    # cannot change the day of a date).
    got = _values(objs, models.toYYYYMMDD("day", "Asia/Tokyo"))
    assert got == {s: at.year * 10000 + at.month * 100 + at.day for s, _, at in ROWS}
    got = _values(objs, models.toStartOfMonth("day", "Asia/Tokyo"))
    assert got == {s: at.date().replace(day=1) for s, _, at in ROWS}


def test_to_year_week(target):
    conn, objs = target
    got = _run(conn, objs, "has_to_year_week", models.toYearWeek("day"))
    if got is not None:
        assert got == {s: _year_week_mode0(at.date()) for s, _, at in ROWS}
        iso = _values(objs, models.toYearWeek("at", 3, "UTC"))  # mode 3: ISO 8601
        assert iso == {s: at.isocalendar()[0] * 100 + at.isocalendar()[1] for s, _, at in ROWS}


def test_to_start_of_week_modes(target):
    conn, objs = target
    monday = _run(conn, objs, "has_to_start_of_week", models.toStartOfWeek("day", 1))
    if monday is None:
        return
    assert monday == {s: at.date() - datetime.timedelta(days=at.weekday()) for s, _, at in ROWS}
    # A time zone moves a date-time's day first; with a Date it is dropped.
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    got = _values(objs, models.toStartOfWeek("at", 1, "Asia/Tokyo"))
    assert got == {s: at.astimezone(tokyo).date()
                   - datetime.timedelta(days=at.astimezone(tokyo).weekday()) for s, _, at in ROWS}
    assert _values(objs, models.toStartOfWeek("day", 1, "Asia/Tokyo")) == monday
    with pytest.raises(TypeError):
        models.toStartOfWeek("day", 1, "UTC", 4)


def _ulid(ms):
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    time_part = "".join(alphabet[(ms >> (5 * i)) & 31] for i in reversed(range(10)))
    return time_part + "7ZZZZZZZZZZZZZZZ"


def test_ulid_string_to_datetime(target):
    conn, objs = target
    ms = 1609459200123  # 2021-01-01 00:00:00.123 UTC
    got = _run(conn, objs, "has_ulid_functions",
               models.ULIDStringToDateTime(Value(_ulid(ms)), "UTC"), name="ULIDStringToDateTime")
    if got is not None:
        expected = datetime.datetime(2021, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
        assert set(got.values()) == {expected}


# ---- hashes ---------------------------------------------------------------------

def _siphash24(data, k0=0, k1=0, wide=False):
    """SipHash-2-4 (the reference algorithm; 128-bit output when wide)."""
    mask = 2**64 - 1

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & mask

    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261,
         k1 ^ 0x7465646279746573]
    if wide:
        v[1] ^= 0xEE

    def rounds(n):
        for _ in range(n):
            v[0] = (v[0] + v[1]) & mask; v[1] = rotl(v[1], 13); v[1] ^= v[0]; v[0] = rotl(v[0], 32)  # noqa: E702
            v[2] = (v[2] + v[3]) & mask; v[3] = rotl(v[3], 16); v[3] ^= v[2]  # noqa: E702
            v[0] = (v[0] + v[3]) & mask; v[3] = rotl(v[3], 21); v[3] ^= v[0]  # noqa: E702
            v[2] = (v[2] + v[1]) & mask; v[1] = rotl(v[1], 17); v[1] ^= v[2]; v[2] = rotl(v[2], 32)  # noqa: E702

    tail = len(data) % 8
    padded = data[:len(data) - tail] + data[len(data) - tail:] + b"\0" * (7 - tail) + \
        bytes([len(data) & 0xFF])
    for (m,) in struct.iter_unpack("<Q", padded):
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    v[2] ^= 0xEE if wide else 0xFF
    rounds(4)
    first = v[0] ^ v[1] ^ v[2] ^ v[3]
    if not wide:
        return first
    v[1] ^= 0xDD
    rounds(4)
    return struct.pack("<QQ", first, v[0] ^ v[1] ^ v[2] ^ v[3])


def _digest(name):
    return lambda b: hashlib.new(name, b).digest()


# name, flag, expression, oracle of the row's bytes
HASH_CASES = [
    ("MD5", None, None, _digest("md5")),
    ("SHA1", None, None, _digest("sha1")),
    ("SHA224", None, None, _digest("sha224")),
    ("SHA256", None, None, _digest("sha256")),
    ("SHA512", "has_sha512", None, _digest("sha512")),
    ("SHA512_256", "has_sha512_256", None, _digest("sha512_256")),
    ("halfMD5", None, None, lambda b: int.from_bytes(hashlib.md5(b).digest()[:8], "big")),
    ("sipHash64", None, None, _siphash24),
    ("sipHash64Keyed", "has_keyed_siphash", lambda: models.sipHash64Keyed(3, 2**64 - 5, "s"),
     lambda b: _siphash24(b, 3, 2**64 - 5)),
    ("sipHash128Reference", "has_keyed_siphash", None, lambda b: _siphash24(b, wide=True)),
    ("sipHash128ReferenceKeyed", "has_keyed_siphash",
     lambda: models.sipHash128ReferenceKeyed(3, 2**64 - 5, "s"),
     lambda b: _siphash24(b, 3, 2**64 - 5, wide=True)),
]

# MD4 is not in OpenSSL 3's default provider: the RFC 1320 test suite.
MD4_VECTORS = {"": "31d6cfe0d16ae931b73c59d7e0c089c0", "a": "bde52cb31de33e46245e05fbdbd6fb24",
               "message digest": "d9130a8164549fe818874806e1c7014b"}


@pytest.mark.parametrize("name,flag,make,oracle", HASH_CASES, ids=[c[0] for c in HASH_CASES])
def test_hashes_against_oracles(target, name, flag, make, oracle):
    conn, objs = target
    got = _run(conn, objs, flag, make() if make else getattr(models, name)("s"))
    if got is not None:
        assert got == {s: oracle(s.encode()) for s, _, _ in ROWS}


def test_md4(target):
    conn, objs = target
    for text, hex_digest in MD4_VECTORS.items():
        got = _run(conn, objs, "has_md4", models.MD4(Value(text)))
        if got is None:
            return
        assert set(got.values()) == {bytes.fromhex(hex_digest)}


def test_hashes_without_a_python_oracle(target):
    """ClickHouse's own hashes: the right type, deterministic, the arguments
    count (and a few published or cross-engine values)."""
    conn, objs = target
    for name in ("cityHash64", "farmHash64", "intHash64"):
        func = getattr(models, name)
        one = _values(objs, func("n"))
        assert one == _values(objs, func("n"))
        assert all(isinstance(v, int) and 0 <= v < 2**64 for v in one.values())
        assert len(set(one.values())) == len(ROWS)
    assert _values(objs, models.intHash32("n"))["alpha"] < 2**32
    # Published in ClickHouse's documentation; equal on 18.16 and chDB.
    assert set(_values(objs, models.cityHash64(Value("a"))).values()) == {2603192927274642682}
    assert _values(objs, models.sipHash128("s"))["alpha"] != _siphash24(b"alpha", wide=True)
    assert all(len(v) == 16 for v in _values(objs, models.sipHash128("s")).values())
    keyed = _run(conn, objs, "has_keyed_siphash", models.sipHash128Keyed(1, 2, "s"))
    if keyed is not None:
        assert all(len(v) == 16 for v in keyed.values())
        assert keyed != _values(objs, models.sipHash128("s"))
    fp = _run(conn, objs, "has_farm_fingerprint64", models.farmFingerprint64("s"))
    if fp is not None:
        assert all(0 <= v < 2**64 for v in fp.values())
    got = _run(conn, objs, "has_blake3", models.BLAKE3("s"), name="BLAKE3")
    if got is not None:
        assert all(len(v) == 32 for v in got.values())
    url = "https://example.com/a/b/?x=1"
    full, level1 = (set(_values(objs, expr).values()) for expr in (
        models.URLHash(Value(url)), models.URLHash(Value(url), 1)))
    assert full == set(_values(objs, models.URLHash(Value(url.rstrip("/?x=1") + "/?x=1"))).values())
    assert level1 == set(_values(objs, models.URLHash(Value("https://example.com/a"))).values())
    assert full != level1


# ---- JSON -------------------------------------------------------------------------

DOCS = {"one": {"a": 1, "b": {"c": "x"}, "l": [1, 2, 3]}, "two": {"a": "s"}, "none": None}


@pytest.fixture
def json_rows(target):
    conn, _ = target
    Model = temp_model("dropin_json", models.ClickhouseModel, s=models.StringField(),
                       j=models.JSONField(null=True))
    with conn.schema_editor() as editor:
        editor.create_model(Model)
    objs = Model.objects.using(conn.alias)
    objs.bulk_create([Model(s=s, j=doc) for s, doc in DOCS.items()])
    try:
        yield conn, objs
    finally:
        with conn.schema_editor() as editor:
            editor.delete_model(Model)


def test_json_text_functions(json_rows):
    """JSONLength, isValidJSON, JSONMergePatch and toJSONString on the JSON text."""
    conn, objs = json_rows
    got = _run(conn, objs, "supports_json_functions", models.JSONLength("j"))
    if got is not None:
        assert got == {"one": 3, "two": 1, "none": None}
        assert _values(objs, models.JSONLength("j", Value("l"))) == {"one": 3, "two": 0,
                                                                    "none": None}
    got = _run(conn, objs, "has_is_valid_json", models.isValidJSON("j"))
    if got is not None:
        assert got == {"one": True, "two": True, "none": None}
        assert set(_values(objs, models.isValidJSON(Value('{"a": '))).values()) == {False}
    got = _run(conn, objs, "has_json_merge_patch",
               models.JSONMergePatch("j", Value('{"z": [true], "a": 2, "b": {"d": null}}')))
    if got is not None:
        # Later keys win, objects merge recursively; a NULL document gives NULL.
        assert {s: v and json.loads(v) for s, v in got.items()} == {
            "one": {"a": 2, "b": {"c": "x", "d": None}, "l": [1, 2, 3], "z": [True]},
            "two": {"a": 2, "b": {"d": None}, "z": [True]}, "none": None}
    got = _run(conn, objs, "has_json_object_function", models.toJSONString("s"))
    if got is not None:
        assert {s: json.loads(v) for s, v in got.items()} == {s: s for s in DOCS}
        assert {s: v and json.loads(v)
                for s, v in _values(objs, models.toJSONString("j")).items()} \
            == {s: doc and json.dumps(doc, separators=(",", ":")) for s, doc in DOCS.items()}


def test_json_type_functions(json_rows):
    """The JSON-type functions read a JSONField's text cast to the JSON type."""
    conn, objs = json_rows
    got = _run(conn, objs, "supports_json_type", models.JSONAllPaths("j"))
    if got is None:
        for func in (models.JSONAllPathsWithTypes, models.JSONSharedDataPaths,
                     models.JSONAllValues):
            _run(conn, objs, func.requires, func("j"))
        _run(conn, objs, "has_dynamic_type", models.dynamicType(F("j__a")))
        return
    assert {s: sorted(v) for s, v in got.items()} == {"one": ["a", "b.c", "l"], "two": ["a"],
                                                      "none": []}
    assert _values(objs, models.JSONAllPathsWithTypes("j")) == {
        "one": {"a": "Int64", "b.c": "String", "l": "Array(Nullable(Int64))"},
        "two": {"a": "String"}, "none": {}}
    assert _values(objs, models.JSONSharedDataPaths("j")) == {s: [] for s in DOCS}
    got = _run(conn, objs, "has_json_all_values", models.JSONAllValues("j"))
    if got is not None:
        assert {s: sorted(v) for s, v in got.items()} == {
            "one": sorted(["1", "x", "[1,2,3]"]), "two": ["s"], "none": []}
    assert _values(objs, models.dynamicType(F("j__a"))) == {
        "one": "Int64", "two": "String", "none": "None"}
    assert _values(objs, models.dynamicType(F("j__b__c"))) == {
        "one": "String", "two": "None", "none": "None"}
    with pytest.raises(NotSupportedError, match="array index"):
        _values(objs, models.dynamicType(F("j__l__0")))
    # Of a literal document too.
    assert list(_values(objs, models.JSONAllPaths(Value('{"p": {"q": 1}}'))).values()) == [
        ["p.q"]] * len(DOCS)


# ---- tuples, random, other --------------------------------------------------------

def test_tuple_and_tuple_element(target):
    conn, objs = target
    assert _values(objs, models.Tuple("n", "s")) == {s: (n, s) for s, n, _ in ROWS}
    assert _values(objs, models.tupleElement(models.Tuple("n", "s"), 1)) == {
        s: s for s, _, _ in ROWS}
    got = _run(conn, objs, "has_tuple_element_default",
               models.tupleElement(models.Tuple("n", "s"), 5, Value("none"),
                                   output_field=models.StringField()))
    if got is not None:
        assert set(got.values()) == {"none"}


def test_rand_host_database(target):
    conn, objs = target
    rands = _values(objs, models.Rand())
    assert all(0 <= v < 2**32 for v in rands.values()) and len(set(rands.values())) > 1
    # The server runs on this machine (ctl.sh), chDB in this process.
    assert set(_values(objs, models.hostName()).values()) == {socket.gethostname()}
    assert set(_values(objs, models.currentDatabase()).values()) == {
        conn.settings_dict["NAME"]}


def test_generate_serial_id(target):
    """Needs ClickHouse Keeper/ZooKeeper: 18.16 lacks the function, chDB has no
    Keeper (the server's error says so)."""
    conn, objs = target
    series = "dropin_%s" % uuid.uuid4().hex[:8]
    try:
        got = _run(conn, objs, "has_generate_serial_id", models.generateSerialID(series))
    except DatabaseError as e:
        assert "Zookeeper" in str(e) or "Keeper" in str(e)
        return
    if got is not None:
        assert sorted(got.values()) == list(range(len(ROWS)))


# ---- aggregates -----------------------------------------------------------------

AGGREGATE_FLAGS = {"uniqCombined64": "has_uniq_combined64", "uniqTheta": "has_uniq_theta"}


@pytest.mark.parametrize("name", NAMES["clickhouse_backend.models.aggregates"][:6])
def test_uniq_family(target, name):
    conn, objs = target
    func = getattr(models, name)
    flag = AGGREGATE_FLAGS.get(name)
    if flag and not getattr(conn.features, flag):
        with pytest.raises(NotSupportedError, match="needs ClickHouse"):
            objs.aggregate(v=func("s"))
        return
    if name == "uniqTheta" and not _server_has(conn, name):
        with pytest.raises(DatabaseError, match=name):
            objs.aggregate(v=func("s"))
        return
    assert objs.aggregate(v=func("s"), w=func("*"), z=func(F("n") % 2))["v"] == len(ROWS)
    assert objs.aggregate(v=func("n", "s"))["v"] == len(ROWS)
    grouped = dict(objs.values("day__year").annotate(v=func("s")).values_list("day__year", "v"))
    assert grouped == {2019: 1, 2020: 1, 2021: 1}
    # Over no rows: 0, as in django-clickhouse-backend, also where the backend's
    # aggregate_functions_null_for_empty would make uniqCombined() NULL.
    assert objs.filter(n=12345).aggregate(v=func("s"))["v"] == 0


def test_any_last_arg_max_group_uniq_array(target):
    conn, objs = target
    got = objs.aggregate(last=models.anyLast("n"), top=models.argMax("s", "n"),
                         when=models.argMax("at", "n"), all=models.groupUniqArray("n"))
    assert got["last"] in {n for _, n, _ in ROWS}
    top = max(ROWS, key=lambda r: r[1])
    assert (got["top"], got["when"]) == (top[0], top[2])
    assert sorted(got["all"]) == sorted(n for _, n, _ in ROWS)


# ---- Map key transform ------------------------------------------------------------

def test_map_key_transform(target):
    conn, objs = target
    if not conn.features.supports_map_type:
        pytest.skip("Map needs ClickHouse 21.8 (the field raises NotSupportedError, "
                    "tests/backend/test_features.py)")
    Model = temp_model(
        "dropin_map", models.ClickhouseModel,
        m=models.MapField(models.StringField(), models.UInt32Field()),
        im=models.MapField(models.UInt16Field(), models.StringField()))
    with conn.schema_editor() as editor:
        editor.create_model(Model)
    try:
        rows = Model.objects.using(conn.alias)
        rows.create(m={"a": 1, "b": 2**32 - 1}, im={7: "seven"})
        assert rows.values_list("m__b", "m__a", "m__zz", "im__7").get() == (
            2**32 - 1, 1, 0, "seven")
        assert rows.filter(m__b=2**32 - 1, im__7="seven").count() == 1
    finally:
        with conn.schema_editor() as editor:
            editor.delete_model(Model)


# ---- EnumField with bytes labels -----------------------------------------------------

def test_enum_field_bytes_and_str_labels(target):
    conn, objs = target
    from django.core import checks

    choices = [(1, b"bytes"), (-128, "str"), (127, b"\xff\xfe"), (2, "caf\u00e9".encode())]
    Model = temp_model("dropin_enum", models.ClickhouseModel,
                       e=models.Enum8Field(choices=choices),
                       name=models.Enum16Field(choices=choices, return_int=False))
    field = Model._meta.get_field("e")
    assert [e for e in field.check() if e.level >= checks.ERROR] == []
    bad = models.Enum8Field(choices=[(1, 2)])
    bad.set_attributes_from_name("bad")
    assert [e.id for e in bad._check_choices()] == ["fields.E005"]
    with conn.schema_editor() as editor:
        editor.create_model(Model)
    try:
        rows = Model.objects.using(conn.alias)
        for value, _ in choices:
            rows.create(e=value, name=value)
        got = sorted(rows.values_list("e", "name"))
        names = {1: "bytes", -128: "str", 127: b"\xff\xfe".decode("utf-8", "surrogateescape"),
                 2: "caf\u00e9"}
        assert got == sorted((v, names[v]) for v, _ in choices)
        assert rows.filter(e=127).count() == 1 and rows.filter(e=-128).count() == 1
    finally:
        with conn.schema_editor() as editor:
            editor.delete_model(Model)


def test_functions_are_sql_only_names():
    """The ClickHouse spelling is what the SQL says (no vendor rewriting)."""
    assert models.toYYYYMMDD("x").function == "toYYYYMMDD"
    assert models.sipHash64Keyed(1, 2, "x").function == "sipHash64Keyed"
    with pytest.raises(TypeError):
        models.toYYYYMMDD()
    with pytest.raises(TypeError):
        models.tupleElement(F("t"))
    assert isinstance(models.uniq("*").get_source_expressions()[0], dj.expressions.Star)
