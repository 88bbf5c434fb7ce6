"""The embedded PostgreSQL + PostGIS cluster under `.onemap/`.

It uses the system's PostgreSQL binaries, listens on 127.0.0.1 and a unix socket in
`.onemap/run/` only, on a port of its own (never 5432), with a password generated at
initialisation. PostgreSQL refuses to run as root, so under root the server runs as the
unprivileged OS user `onemap`, created on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from geodata.errors import DatabaseSetupError, PostgisMissingError

SERVER_USER = "onemap"
DB_USER = "onemap"
DB_NAME = "onemap"
FIRST_PORT = 54329  # away from 5432 and from the usual 5433-5439 of side-by-side versions
FALLBACK_ROOT = Path("/var/lib/onemap/clusters")
INSTALL_HINT = "sudo apt-get install -y postgresql postgresql-postgis"


def project_home() -> Path:
    """`.onemap/` of the repository (or `ONEMAP_HOME`)."""
    if env := os.environ.get("ONEMAP_HOME"):
        return Path(env).resolve()
    package_root = Path(__file__).resolve().parents[2]
    if (package_root / "pyproject.toml").exists():
        return package_root / ".onemap"
    return Path.cwd() / ".onemap"


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.name)) or (0,)


def find_pg_bindir() -> Path:
    """The newest system PostgreSQL whose share directory has the PostGIS extension."""
    if env := os.environ.get("ONEMAP_PG_BINDIR"):
        return Path(env)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*"), key=_version_key, reverse=True)
    found_postgres = False
    for root in candidates:
        bindir = root / "bin"
        if not (bindir / "initdb").exists():
            continue
        found_postgres = True
        if (Path("/usr/share/postgresql") / root.name / "extension" / "postgis.control").exists():
            return bindir
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        share = subprocess.run([pg_config, "--sharedir"], capture_output=True, text=True,
                               check=False)
        if out.returncode == 0 and (Path(share.stdout.strip()) / "extension/postgis.control").exists():
            return Path(out.stdout.strip())
    what = "PostGIS is not installed for the system PostgreSQL" if found_postgres else (
        "PostgreSQL with PostGIS is not installed"
    )
    raise PostgisMissingError(f"{what}. Install it with:\n    {INSTALL_HINT}")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(first: int = FIRST_PORT) -> int:
    for port in range(first, first + 200):
        if port != 5432 and _port_is_free(port):
            return port
    raise DatabaseSetupError(f"no free port between {first} and {first + 199} on 127.0.0.1")


@dataclass
class ClusterState:
    port: int
    password: str
    bindir: str
    data_root: str = ""  # where pgdata/, run/ and the log live (the home unless unreachable)

    @classmethod
    def load(cls, path: Path) -> ClusterState | None:
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2))
        path.chmod(0o600)


class Cluster:
    """Initialise, start, stop and describe the embedded cluster."""

    def __init__(self, home: Path | None = None):
        self.home = home or project_home()
        self.state_file = self.home / "cluster.json"
        state = ClusterState.load(self.state_file)
        self._set_root(Path(state.data_root) if state and state.data_root else self.home)

    def _set_root(self, root: Path) -> None:
        self.data_root = root
        self.data_dir = root / "pgdata"
        self.socket_dir = root / "run"
        self.log_file = root / "postgres.log"

    # -- who runs the server --------------------------------------------------------
    def _server_account(self) -> pwd.struct_passwd | None:
        """None when we are not root; else the unprivileged account (created if needed)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                 SERVER_USER],
                check=True, capture_output=True,
            )
            return pwd.getpwnam(SERVER_USER)

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        account = self._server_account()
        kwargs: dict = {"capture_output": True, "text": True, "cwd": self.data_root}
        if account is not None:
            kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
        proc = subprocess.run(args, **kwargs, check=False)  # the return code is read below
        if check and proc.returncode != 0:
            raise DatabaseSetupError(
                f"{Path(args[0]).name} failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()}"
            )
        return proc

    def _reachable_by_server(self, folder: Path) -> bool:
        account = self._server_account()
        if account is None:
            return True
        probe = subprocess.run(["/usr/bin/test", "-x", str(folder)], user=account.pw_uid,
                               group=account.pw_gid, extra_groups=[], capture_output=True,
                               check=False)
        return probe.returncode == 0

    def _choose_data_root(self) -> Path:
        """The home, unless the server account cannot get there (a checkout under a private
        folder such as /root): then a folder of its own under /var/lib/onemap."""
        if self._reachable_by_server(self.home.parent):
            return self.home
        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
        return FALLBACK_ROOT / digest

    def _hand_over(self) -> None:
        """Give the cluster's folders to the server account and check it can reach them."""
        account = self._server_account()
        if account is None:
            return
        roots = {self.home, self.data_root}
        for root in roots:
            for path in [root, *root.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
        probe = self._run(["/usr/bin/test", "-w", str(self.data_root)], check=False)
        if probe.returncode != 0:
            raise DatabaseSetupError(
                f"the server account {SERVER_USER!r} cannot reach {self.data_root}. Set "
                "ONEMAP_HOME to a reachable folder, or point ONEMAP_DATABASE_URL at a PostGIS server."
            )

    # -- life cycle ------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self.state_file.exists()

    def state(self) -> ClusterState:
        state = ClusterState.load(self.state_file)
        if state is None:
            raise DatabaseSetupError("the embedded database is not initialised: run `onemap db start`")
        return state

    def init(self) -> bool:
        """Create the cluster once. Returns True when it was created now."""
        if self.initialised:
            return False
        bindir = find_pg_bindir()
        self.home.mkdir(parents=True, exist_ok=True)
        self._set_root(self._choose_data_root())
        if self.data_dir.exists():  # a half-made cluster from an interrupted init
            shutil.rmtree(self.data_dir)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        state = ClusterState(port=pick_port(), password=secrets.token_hex(16), bindir=str(bindir),
                             data_root=str(self.data_root))
        pwfile = self.data_root / ".pwfile"
        pwfile.write_text(state.password + "\n")
        pwfile.chmod(0o600)
        self._hand_over()
        try:
            self._run([
                str(bindir / "initdb"), "-D", str(self.data_dir), "-U", DB_USER,
                f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_config(state)
        state.save(self.state_file)
        self._hand_over()
        return True

    def _write_config(self, state: ClusterState) -> None:
        conf = self.data_dir / "postgresql.auto.conf"
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(state.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "shared_buffers": "'256MB'",
            "work_mem": "'32MB'",
            "maintenance_work_mem": "'256MB'",
            "max_wal_size": "'2GB'",
            "max_connections": "100",
            "log_min_duration_statement": "'2s'",
            # JIT compiling costs 100-300 ms on each heavy spatial statement (ST_Transform,
            # ST_AsMVT) and never pays back on queries of this size
            "jit": "off",
        }
        with conf.open("a") as fh:
            fh.write("\n# written by onemap\n")
            for key, value in settings.items():
                fh.write(f"{key} = {value}\n")

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        bindir = Path(self.state().bindir)
        return self._run([str(bindir / "pg_ctl"), "-D", str(self.data_dir), *args], check=check)

    def is_running(self) -> bool:
        if not self.initialised:
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    def start(self) -> bool:
        """Start the server if it is not running. Returns True when it was started now."""
        self.init()
        if self.is_running():
            return False
        port = self.state().port
        if not _port_is_free(port):
            raise DatabaseSetupError(
                f"port {port} on 127.0.0.1 is taken by another program; stop it or edit "
                f"{self.state_file}"
            )
        self._hand_over()
        self._pg_ctl("-l", str(self.log_file), "-w", "-t", "60", "start")
        self._ensure_database()
        return True

    def stop(self) -> bool:
        if not self.is_running():
            return False
        self._pg_ctl("-m", "fast", "-w", "-t", "60", "stop")
        return True

    def _ensure_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url(dbname="postgres"), autocommit=True) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]
                    ).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def url(self, dbname: str = DB_NAME) -> str:
        state = self.state()
        return f"postgresql://{DB_USER}:{state.password}@127.0.0.1:{state.port}/{dbname}"

    def status(self) -> dict:
        info: dict = {"home": str(self.home), "initialised": self.initialised}
        if self.initialised:
            state = self.state()
            info.update(port=state.port, bindir=state.bindir, data_dir=str(self.data_dir),
                        running=self.is_running())
        else:
            info["running"] = False
        return info
