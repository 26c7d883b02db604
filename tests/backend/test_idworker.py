"""clickhouse_backend.idworker: django-clickhouse-backend's id worker names
(issue 13). A BaseIDWorker subclass named by settings.CLICKHOUSE_ID_WORKER
gives the ids of new rows on both targets; SnowflakeIDWorker keeps the
predecessor's datacenter/worker bits."""
import itertools
import threading

import pytest
from django.test import override_settings

from clickhouse_backend import models
from clickhouse_backend.idworker import BaseIDWorker, SnowflakeIDWorker, id_worker
from clickhouse_backend.utils.snowflake import SnowflakeGenerator
from tests.backend.conftest import created_tables, temp_model, use_db


class StepWorker(BaseIDWorker):
    """Ids near the top of Int64, one apart: nothing else generates these."""

    def __init__(self):
        self._next = itertools.count(2**63 - 10_000)
        self.issued = []
        self._lock = threading.Lock()

    def get_id(self):
        with self._lock:
            value = next(self._next)
        self.issued.append(value)
        return value


step_worker = StepWorker()
datacenter_worker = SnowflakeIDWorker(datacenter_id=7, worker_id=19)
PATH = "tests.backend.test_idworker.%s"


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_configured_subclass_gives_the_stored_ids(alias, request):
    conn = use_db(alias, request)
    Model = temp_model("idw", models.ClickhouseModel, name=models.StringField())
    with created_tables(conn, Model):
        objs = Model.objects.using(alias)
        start = len(step_worker.issued)
        with override_settings(CLICKHOUSE_ID_WORKER=PATH % "step_worker"):
            one = objs.create(name="one")
            many = objs.bulk_create([Model(name="two"), Model(name="three")])
            via_api = id_worker.get_id()
        issued = step_worker.issued[start:]
        assert issued[:3] == [one.pk, *(o.pk for o in many)]
        assert via_api == issued[3]
        assert sorted(objs.values_list("pk", "name")) == sorted(
            zip(issued[:3], ["one", "two", "three"]))
        assert objs.get(pk=issued[0]).name == "one"
        # A SnowflakeIDWorker named by the setting: its bits are in the stored ids.
        with override_settings(CLICKHOUSE_ID_WORKER=PATH % "datacenter_worker"):
            objs.create(name="dc")
        pk = objs.get(name="dc").pk
        assert SnowflakeGenerator.parse(pk)[1] == (7 << 5) | 19
        # Without the setting: the snowflake generator, not the worker above.
        with override_settings():
            from django.conf import settings
            del settings.CLICKHOUSE_ID_WORKER
            plain = objs.create(name="plain")
        assert plain.pk not in step_worker.issued and objs.get(pk=plain.pk).name == "plain"


def test_default_path_and_snowflake_worker():
    from django.utils.module_loading import import_string

    default = import_string("clickhouse_backend.idworker.snowflake.snowflake_worker")
    assert isinstance(default, BaseIDWorker)
    ids = [default.get_id() for _ in range(2000)]
    assert ids == sorted(set(ids)) and all(0 < i < 2**63 for i in ids)
    with override_settings(CLICKHOUSE_ID_WORKER="clickhouse_backend.idworker.snowflake."
                                                "snowflake_worker"):
        assert id_worker.get_id() > ids[-1]
    worker = SnowflakeIDWorker(datacenter_id=31, worker_id=0)
    ids = [worker.get_id() for _ in range(5000)]  # more than one millisecond's 4096
    assert ids == sorted(set(ids))
    assert {SnowflakeGenerator.parse(i)[1] for i in ids} == {31 << 5}
    for bad in ((32, 0), (0, 32), (-1, 0), (0, True)):
        with pytest.raises(ValueError, match="must be an integer in 0..31"):
            SnowflakeIDWorker(*bad)
    with pytest.raises(NotImplementedError):
        BaseIDWorker().get_id()
