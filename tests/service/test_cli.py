"""The `onemap` command line, run in-process with typer's CliRunner."""

from __future__ import annotations

import os
import re
from importlib.metadata import version

import psycopg
import pytest
from typer.testing import CliRunner

from geodata.db import ENV_URL, database_url
from service.cli import app

runner = CliRunner()


def test_version_prints_the_installed_version():
    result = runner.invoke(app, ["--version"])

    assert result.exit_code == 0
    assert result.output == f"onemap {version('onemap')}\n"
    assert re.fullmatch(r"onemap \d+\.\d+\.\d+\n", result.output)


def test_db_url_prints_a_postgresql_url():
    result = runner.invoke(app, ["db", "url"])

    assert result.exit_code == 0, result.output
    assert result.output == f"{database_url()}\n"
    assert result.output.startswith("postgresql://")


def test_db_url_follows_the_environment(base_url):
    result = runner.invoke(app, ["db", "url"], env={ENV_URL: base_url})

    assert result.exit_code == 0
    assert result.output == f"{base_url}\n"


def test_db_status_exits_0_while_the_cluster_runs(server_url):
    # server_url has started the embedded cluster, unless the suite runs elsewhere
    if os.environ.get("ONEMAP_TEST_DATABASE_URL") or os.environ.get(ENV_URL):
        pytest.skip("the suite runs on an external server, not the embedded cluster")

    result = runner.invoke(app, ["db", "status"])

    assert result.exit_code == 0, result.output
    assert "embedded cluster running on 127.0.0.1:" in result.output
    assert re.search(r"database answers; PostGIS 3\.\d+", result.output)


def test_db_status_on_a_server_given_by_url(base_url):
    result = runner.invoke(app, ["db", "status"], env={ENV_URL: base_url})

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"using {ENV_URL}"
    assert re.search(r"database answers; PostGIS 3\.\d+", result.output)


def test_db_status_exits_3_when_the_server_does_not_answer(closed_port_url):
    result = runner.invoke(app, ["db", "status"], env={ENV_URL: closed_port_url})

    assert result.exit_code == 3
    assert "database does not answer" in result.output


def test_shelters_prints_every_district_and_the_failing_ones(scratch_url):
    result = runner.invoke(app, ["shelters", "--gaps"], env={ENV_URL: scratch_url,
                                                             "COLUMNS": "120"})

    assert result.exit_code == 0, result.output
    for name in ("新城区", "碑林区", "周至县", "全市"):
        assert name in result.output
    assert "districts below it: 新城区, 碑林区, 莲湖区" in result.output
    built = int(re.search(r"shelter_gaps: ([\d,]+) areas", result.output)[1].replace(",", ""))
    with psycopg.connect(scratch_url) as conn:
        assert conn.execute("SELECT count(*) FROM shelter_gaps").fetchone()[0] == built > 0


def test_shelters_of_a_district_and_an_unknown_code(seeded_url):
    result = runner.invoke(app, ["shelters", "610103"], env={ENV_URL: seeded_url, "COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "碑林区" in result.output and "by sub-district" in result.output

    wrong = runner.invoke(app, ["shelters", "999999"], env={ENV_URL: seeded_url})
    assert wrong.exit_code == 2
    assert "no district with code '999999'" in wrong.output
