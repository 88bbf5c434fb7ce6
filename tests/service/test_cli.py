"""The `onemap` command line, run in-process with typer's CliRunner."""

from __future__ import annotations

import os
import re
from importlib.metadata import version

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
