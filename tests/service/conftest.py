"""Apps for the service tests, each made from explicit settings and closed after use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from layers.catalogue import LAYERS, with_geometry_parts
from service.app import create_app
from service.auth import create_token
from service.settings import ApiSettings, DatabaseSettings, Settings

# What the base and the seeded database publish: every declared layer (the declared names
# are pinned in test_collections, the parts in test_features), each followed by its parts.
PUBLISHED = [layer.name for layer in with_geometry_parts(LAYERS)]


def app_settings(url: str, api: dict | None = None, **database) -> Settings:
    """Settings for a test app on `url`; short timeouts so failures show quickly."""
    database = {"pool_timeout": 2.0, "reconnect_timeout": 2.0, "health_timeout": 1.0,
                "connect_timeout": 2, **database}
    return Settings(database=DatabaseSettings(url=url, **database), api=ApiSettings(**(api or {})))


@pytest.fixture(scope="session")
def settings_for():
    """`app_settings`, for test modules (they cannot import a conftest)."""
    return app_settings


@pytest.fixture(scope="session")
def published() -> list[str]:
    """The layers the base (and the seeded) database publishes, in catalogue order."""
    return list(PUBLISHED)


@pytest.fixture(scope="session")
def top_level() -> list[str]:
    """The declared layers without their geometry parts, in catalogue order."""
    return [layer.name for layer in LAYERS]


@pytest.fixture(scope="module")
def base_client(base_url):
    """A client of an app on the base database (districts only), shared by a module."""
    with TestClient(create_app(app_settings(base_url))) as client:
        yield client


@pytest.fixture(scope="module")
def seeded_client(seeded_url):
    """A client of an app on the seeded database (read only), shared by a module."""
    with TestClient(create_app(app_settings(seeded_url))) as client:
        yield client


@pytest.fixture(scope="module")
def seeded_sql(seeded_url):
    """Run one read-only statement on the seeded database: `seeded_sql(query, params)` rows.

    Each call has its own connection, so a scratch copy made in between (which ends the
    sessions on its template) cannot break a later call.
    """
    def run(query, params=()):
        with psycopg.connect(seeded_url) as conn:
            return conn.execute(query, params).fetchall()
    return run


@pytest.fixture(scope="module")
def sql(module_scratch_url):
    """Run one statement on the module's scratch database: `sql(query, params)` rows."""
    def run(query, params=()):
        with psycopg.connect(module_scratch_url) as conn:
            return conn.execute(query, params).fetchall()
    return run


@pytest.fixture(scope="module")
def tokens(module_scratch_url):
    """Bearer headers of a token per role that writes or reads, on the module's database;
    each token is named "值班 <role>" (alarms record who acted by that name)."""
    headers = {}
    with psycopg.connect(module_scratch_url) as conn:
        for role in ("operator", "commander", "admin", "analyst"):
            _, token = create_token(conn, role, f"值班 {role}")
            headers[role] = {"Authorization": f"Bearer {token}"}
    return headers


@pytest.fixture(scope="module")
def client(module_scratch_url, settings_for):
    """The app on the module's database."""
    with TestClient(create_app(settings_for(module_scratch_url))) as test_client:
        yield test_client


class LiveServer:
    """The app served by uvicorn on a free loopback port, in a process of its own.

    A process, not a thread: GDAL (through pyogrio) holds the GIL while it waits for
    the answer, so a server in a thread of the same process would never answer it.
    """

    def __init__(self, database_url: str, **environment: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # no timed grading: the seeded database is the template of the scratch copies
        self.environment = {**os.environ, "ONEMAP_DATABASE_URL": database_url,
                            "ONEMAP_GRADING_INTERVAL_SECONDS": "0", **environment}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "service.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            env=self.environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the test server did not start")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def live_seeded(seeded_url):
    """The app on the seeded database, listening on 127.0.0.1 (module-wide)."""
    with LiveServer(seeded_url) as server:
        yield server


@pytest.fixture(scope="session")
def live_server():
    """`LiveServer`, for test modules that serve a database of their own."""
    return LiveServer


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (just released by the kernel)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_host_port(url: str, host: str, port: int) -> str:
    """`url` with another host and port, keeping user, password and database."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def closed_port_url(base_url) -> str:
    """A database URL whose port refuses connections."""
    return with_host_port(base_url, "127.0.0.1", free_port())


class SwitchableProxy:
    """A TCP relay to the test server that can be switched off (refusing) and on again.

    Off, nothing listens on its port and the connections it relayed are cut: to a client
    that is a database going down; on again, the database coming back.
    """

    def __init__(self, target_url: str):
        parts = urlsplit(target_url)
        self.target = (parts.hostname, parts.port)
        self.port = free_port()
        self.url = with_host_port(target_url, "127.0.0.1", self.port)  # the database through it
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.1)  # the accept loop looks for `down` ten times a second
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass


@pytest.fixture
def proxy(base_url):
    """A switchable relay to the base database's server (starts switched off)."""
    parts = urlsplit(base_url)
    if not parts.hostname or not parts.port:
        pytest.skip("the test database is not reached over TCP")
    relay = SwitchableProxy(base_url)
    yield relay
    relay.down()


@pytest.fixture(scope="module")
def chromium_path():
    """Debian's Chromium and the page's MapLibre, for the map page tests (`make test` installs
    both)."""
    from browser import chromium_binary

    from service.routers.pages import MAPLIBRE

    path = chromium_binary()
    if path is None:
        pytest.skip("no Chromium: `make test` installs it (apt-get install chromium)")
    if not (MAPLIBRE / "maplibre-gl.mjs").is_file():
        pytest.skip("MapLibre GL JS is not installed: run `make web`")
    return path
