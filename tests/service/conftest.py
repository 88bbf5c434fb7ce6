"""Apps for the service tests, each made from explicit settings and closed after use."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import ApiSettings, DatabaseSettings, Settings

PUBLISHED = ["districts", "subdistricts", "risk_units", "monitoring_points", "shelters",
             "resources", "hidden_dangers"]  # every declared layer but alarms (no table yet)


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
    """The layers the base database publishes, in catalogue order."""
    return list(PUBLISHED)


@pytest.fixture(scope="module")
def base_client(base_url):
    """A client of an app on the base database (districts only), shared by a module."""
    with TestClient(create_app(app_settings(base_url))) as client:
        yield client


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
