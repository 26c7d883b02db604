"""manage.py chquery (issue 19): a live progress bar on stderr from the driver's
progress updates (the embedded engine reports them; the 18.16 server sends none),
and the result as a table or CSV."""
import io

import pytest
from django.core.management import CommandError, call_command

from clickhouse_backend.management.commands.chquery import Command
from tests.backend.conftest import use_db


def run(*args, **kw):
    out, err = io.StringIO(), io.StringIO()
    call_command(Command(), *args, stdout=out, stderr=err, **kw)
    return out.getvalue(), err.getvalue()


def test_progress_bar_on_a_long_query(request):
    use_db("embedded", request)
    out, err = run("SELECT max(number * 7 % 1000003) AS m FROM numbers(100000000)", "--setting", "max_threads=1",
                   "--setting", "interactive_delay=20000",
                   database="embedded")
    frames = [f for f in err.split("\r") if "%" in f]
    assert len(frames) >= 2, err  # redrawn as the query ran
    assert "100% 100000000/100000000 rows read" in frames[-1]
    assert out.splitlines()[1:4] == ["| m       |", "+---------+", "| 1000002 |"]
    assert "1 rows in" in err and "100000000 rows read" in err.splitlines()[-1]


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_csv_and_table(alias, request):
    use_db(alias, request)
    sql = "SELECT number AS n, toString(number) AS s, if(number = 1, NULL, number) AS x FROM numbers(3)"
    out, err = run(sql, "--csv", database=alias)
    assert out == "n,s,x\n0,0,0\n1,1,\n2,2,2\n"
    out, err = run(sql, database=alias)
    assert out.splitlines() == ["+---+---+------+", "| n | s | x    |", "+---+---+------+",
                                "| 0 | 0 | 0    |", "| 1 | 1 | NULL |", "| 2 | 2 | 2    |", "+---+---+------+"]
    assert "3 rows in" in err
    if alias == "default":
        assert "%" not in err  # 18.16 sends no progress: no bar


def test_errors_and_bad_settings(db):
    with pytest.raises(CommandError, match="no_such_column|Missing columns"):
        run("SELECT no_such_column")
    with pytest.raises(CommandError, match="NAME=VALUE"):
        run("SELECT 1", "--setting", "oops")
