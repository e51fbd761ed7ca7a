"""Fixtures that run real `parley` processes for the integration tests.

The binary comes from PARLEY_BINARY (scripts/test sets it); PostgreSQL-backed servers need
PARLEY_TEST_DATABASE_URL (an admin URL on a throwaway cluster, also set by scripts/test).
"""
import os
import signal
import socket
import subprocess
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

BINARY = os.environ.get("PARLEY_BINARY", "")
ADMIN_URL = os.environ.get("PARLEY_TEST_DATABASE_URL", "")
MONGODB_URI = os.environ.get("MONGODB_URI", "")
TEST_SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database():
    """Creates an empty PostgreSQL database and returns its URL."""
    if not ADMIN_URL:
        pytest.skip("PARLEY_TEST_DATABASE_URL is not set")
    name = "parley_it_" + uuid.uuid4().hex
    subprocess.run(["psql", ADMIN_URL, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path="/" + name))


def psql(url, sql):
    """Runs `sql` on the database at `url`; its output, unaligned."""
    return subprocess.run(["psql", url, "-Atq", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def fresh_mongo_database(prefix="parley_it_"):
    """A MongoDB URL naming a database of its own on MONGODB_URI's server (skips without one)."""
    if not MONGODB_URI:
        pytest.skip("MONGODB_URI is not set")
    parts = urlsplit(MONGODB_URI)
    return urlunsplit(parts._replace(path="/" + prefix + uuid.uuid4().hex[:8]))


class ParleyProcess:
    """One `parley serve` process on a free port, with its own data directory."""

    def __init__(self, data_dir, env=None, args=None):
        self.port = free_port()
        self.data_dir = str(data_dir)
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "DATA_DIR": self.data_dir,
            "JWT_SECRET": TEST_SECRET,
            "BCRYPT_COST": "4",
            "LOG_LEVEL": "info",
            "CORS_ORIGIN": "http://allowed.example",
        }
        self.env.update(env or {})
        self.env = {k: v for k, v in self.env.items() if v is not None}
        self.args = args or []
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=60):
        assert BINARY, "PARLEY_BINARY is not set (run scripts/test)"
        os.makedirs(self.data_dir, exist_ok=True)
        self.log = open(self.log_path, "ab")
        self.log_offset = self.log.tell()
        self.process = subprocess.Popen(
            [BINARY, "serve", "--port", str(self.port), "--host", "127.0.0.1", *self.args],
            env=self.env,
            cwd=self.data_dir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait_until_listening(timeout)
        return self

    def wait_until_listening(self, timeout):
        """Waits for the server's own 'listening' log line (or its exit)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"parley exited with {self.process.returncode}:\n{self.output()}")
            if "Server started and listening" in self.output()[self.log_offset:]:
                return
            time.sleep(0.05)
        raise AssertionError(f"parley did not start within {timeout}s:\n{self.output()}")

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("parley did not stop on SIGTERM")
        return self.process.returncode if self.process else None

    # HTTP helpers ------------------------------------------------------------------------------

    def signup(self, name="Ann", email=None, password="secret1", session=None):
        email = email or f"{uuid.uuid4().hex[:10]}@example.com"
        http = session or requests.Session()
        reply = http.post(self.url + "/api/auth/signup", json={"name": name, "email": email, "password": password})
        assert reply.status_code == 201, reply.text
        user = reply.json()
        user["token"] = http.cookies.get("jwt") or reply.cookies.get("jwt")
        user["password"] = password
        return user


@pytest.fixture
def parley(tmp_path):
    """A factory for running servers; every one started is stopped after the test."""
    started = []

    def start(env=None, data_dir=None, args=None):
        server = ParleyProcess(data_dir or tmp_path / f"server{len(started)}", env=env, args=args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop(signal.SIGKILL)


@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.skipif(not ADMIN_URL, reason="PARLEY_TEST_DATABASE_URL is not set")),
    pytest.param("mongodb", marks=pytest.mark.skipif(not MONGODB_URI, reason="MONGODB_URI is not set")),
])
def store_env(request):
    """The environment of a server on each store this machine has: SQLite, a fresh PostgreSQL
    database, a fresh MongoDB database."""
    if request.param == "postgres":
        return {"DATABASE_URL": fresh_database()}
    if request.param == "mongodb":
        return {"MONGODB_URI": fresh_mongo_database()}
    return {}
