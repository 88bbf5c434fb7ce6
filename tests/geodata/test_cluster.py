"""The embedded cluster: initialised once, loopback only, its own port, started and stopped."""

import shutil

import psycopg
import pytest

from geodata.db.cluster import Cluster, find_pg_bindir, pick_port
from geodata.errors import DatabaseSetupError


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(home=tmp_path / ".onemap")
    yield c
    c.stop()
    if c.data_root != c.home:  # the fallback folder for homes the server account can't reach
        shutil.rmtree(c.data_root, ignore_errors=True)


def test_start_initialises_once_and_serves_postgis_on_loopback(cluster):
    assert not cluster.initialised and not cluster.is_running()
    assert cluster.start() is True
    assert cluster.initialised and cluster.is_running()
    assert cluster.start() is False  # already running: nothing to do
    state = cluster.state()
    assert state.port != 5432
    url = cluster.url()
    assert url.startswith(f"postgresql://onemap:{state.password}@127.0.0.1:{state.port}/onemap")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        assert conn.execute("SELECT postgis_lib_version()").fetchone()[0].startswith("3")
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW password_encryption").fetchone() == ("scram-sha-256",)
    assert cluster.init() is False  # initialised once


def test_a_wrong_password_is_refused(cluster):
    cluster.start()
    state = cluster.state()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(f"postgresql://onemap:wrong@127.0.0.1:{state.port}/onemap")


def test_stop_and_status(cluster):
    cluster.start()
    assert cluster.status()["running"] is True
    assert cluster.stop() is True
    assert cluster.status()["running"] is False
    assert cluster.stop() is False


def test_url_before_init_names_the_command_to_run(tmp_path):
    with pytest.raises(DatabaseSetupError, match="onemap db start"):
        Cluster(home=tmp_path / "nothing").url()


def test_ports_are_never_5432():
    assert pick_port(5430) != 5432


def test_bindir_has_postgis():
    bindir = find_pg_bindir()
    assert (bindir / "initdb").exists()
