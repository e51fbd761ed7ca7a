"""The `parley` executable as an operator runs it: startup, configuration errors, shutdown."""
import os
import signal
import socket
import subprocess
import time

import requests

from conftest import BINARY, ParleyProcess, TEST_SECRET, fresh_database


def run_parley(args, env, cwd):
    return subprocess.run([BINARY, *args], env={"PATH": os.environ["PATH"], **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_help_lists_the_commands(tmp_path):
    result = run_parley(["--help"], {}, tmp_path)
    assert result.returncode == 0
    for command in ("serve", "migrate", "copy"):
        assert command in result.stdout


def test_bad_configuration_stops_startup_naming_the_key(tmp_path):
    cases = [
        ({"ENVIRONMENT": "production"}, "JWT_SECRET"),
        ({"DATABASE_URL": "postgres//nope"}, "DATABASE_URL"),
        ({"STORE": "cassandra"}, "STORE"),
        ({"PORT": "eighty"}, "PORT"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ]
    for env, key in cases:
        result = run_parley(["serve"], {"DATA_DIR": str(tmp_path), **env}, tmp_path)
        assert result.returncode != 0, env
        assert key in result.stderr, (env, result.stderr)
        assert "Fatal error" not in result.stderr


def test_reads_dot_env_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text('PORT=1\nJWT_SECRET="from-dot-env-is-long-enough-for-hs256-use"\n')
    server = ParleyProcess(tmp_path)
    server.env.pop("JWT_SECRET")
    server.start()
    try:
        user = server.signup()
        assert user["token"]
    finally:
        assert server.stop() == 0


def test_a_dot_env_with_crlf_line_endings_stops_startup(tmp_path):
    (tmp_path / ".env").write_bytes(b'PORT=1\r\nLOG_LEVEL=debug\r\n')
    result = run_parley(["serve"], {"DATA_DIR": str(tmp_path), "JWT_SECRET": TEST_SECRET}, tmp_path)
    assert result.returncode != 0
    assert ".env" in result.stderr and "CRLF" in result.stderr, result.stderr
    assert "Fatal error" not in result.stderr


def test_development_secret_is_generated_and_remembered(tmp_path):
    first = ParleyProcess(tmp_path, env={"JWT_SECRET": None})
    first.start()
    user = first.signup()
    assert "JWT_SECRET is not set" in first.output()
    assert first.stop() == 0
    assert (tmp_path / ".jwt-secret").stat().st_mode & 0o077 == 0

    second = ParleyProcess(tmp_path, env={"JWT_SECRET": None})
    second.start()
    try:
        reply = requests.get(second.url + "/api/auth/check", cookies={"jwt": user["token"]})
        assert reply.status_code == 200, "a session survives a restart"
    finally:
        second.stop()


def test_graceful_shutdown_finishes_the_request_in_flight(tmp_path):
    server = ParleyProcess(tmp_path, env={"LOG_LEVEL": "debug", "LOG_FORMAT": "text"}).start()
    body = b'{"name": "Late", "email": "late@example.com", "password": "secret1"}'
    request = (
        b"POST /api/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    conn = socket.create_connection(("127.0.0.1", server.port))
    conn.sendall(request + body[:10])
    # The server logs the request once it is handling it; only then is it "in flight".
    deadline = time.monotonic() + 10
    while "hb.request.path=/api/auth/signup" not in server.output():
        assert time.monotonic() < deadline, "the request never reached the server"
        time.sleep(0.02)
    server.process.send_signal(signal.SIGTERM)
    # Shutdown has begun once new connections are refused.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            time.sleep(0.05)
        except OSError:
            break
    else:
        raise AssertionError("the server kept accepting connections after SIGTERM")
    conn.sendall(body[10:])
    reply = conn.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 201"), reply
    assert server.process.wait(30) == 0
    conn.close()


def test_migrate_command_on_postgres_is_idempotent(tmp_path):
    url = fresh_database()
    for _ in range(2):
        result = run_parley(["migrate"], {"DATABASE_URL": url, "JWT_SECRET": TEST_SECRET}, tmp_path)
        assert result.returncode == 0, result.stderr
    check = subprocess.run(["psql", url, "-tAc", "SELECT count(*) FROM parley_schema_migrations"],
                           capture_output=True, text=True, check=True)
    assert int(check.stdout.strip()) >= 1


def test_serves_on_postgres(parley):
    server = parley(env={"DATABASE_URL": fresh_database()})
    ann = server.signup(name="Ann")
    bob = server.signup(name="Bob")
    reply = requests.post(server.url + "/api/message", json={"to": bob["_id"], "text": "hi"},
                          cookies={"jwt": ann["token"]})
    assert reply.status_code == 201
    page = requests.get(server.url + f"/api/message/{ann['_id']}", cookies={"jwt": bob["token"]}).json()
    assert [m["text"] for m in page] == ["hi"]
    assert "PostgreSQL" in server.output()


def test_logs_are_json_lines_with_request_ids_and_never_secrets(parley):
    import json as jsonlib
    server = parley(env={"LOG_LEVEL": "trace", "LOG_FORMAT": "json"})
    password = "Sup3r-Secret-Passw0rd"
    ann = server.signup(name="Ann", password=password)
    bob = server.signup(name="Bob")
    http = requests.Session()
    login = http.post(server.url + "/api/auth/login", json={"email": ann["email"], "password": password})
    assert login.status_code == 200
    token = ann["token"]
    sent = requests.post(server.url + "/api/message", json={"to": bob["_id"], "text": "hi"},
                         headers={"Authorization": f"Bearer {token}", "X-Request-Id": "trace-me-123"})
    assert sent.status_code == 201
    assert sent.headers["X-Request-Id"] == "trace-me-123"
    generated = requests.get(server.url + "/api/auth/check", cookies={"jwt": token},
                             headers={"X-Request-Id": "not ok\u00e9"})
    request_id = generated.headers["X-Request-Id"]
    assert request_id and request_id != "not ok\u00e9"
    missing = requests.get(server.url + "/nowhere")
    assert missing.status_code == 404 and missing.headers["X-Request-Id"]

    lines = [line for line in server.output().splitlines() if line.startswith("{")]
    records = [jsonlib.loads(line) for line in lines]
    assert records and all({"time", "level", "label", "message"} <= set(r) for r in records)
    assert any(r.get("hb.request.id") == "trace-me-123" for r in records)
    assert any(r.get("hb.request.id") == request_id for r in records)
    output = server.output()
    for secret in (password, token, login.cookies.get("jwt"), TEST_SECRET):
        assert secret not in output


def test_stopping_tells_sockets_to_reconnect_and_a_stuck_request_cannot_hold_it(tmp_path):
    from realtime_support import connect
    server = ParleyProcess(tmp_path, env={"SHUTDOWN_TIMEOUT_SECONDS": "2", "LOG_FORMAT": "text"}).start()
    ann = server.signup(name="Ann")
    websocket, ws_events = connect(server, token=ann["token"])
    polling, polling_events = connect(server, token=ann["token"], transports=("polling",))
    # A request that will never finish: its body never arrives.
    stuck = socket.create_connection(("127.0.0.1", server.port))
    stuck.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{")
    time.sleep(0.2)  # let the server start reading it
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    # As the reference server does: a WebSocket is closed (clients reconnect, to another instance
    # behind the load balancer), a waiting long-poll gets the Engine.IO close packet at once
    # (socket.io-client reconnects on it too; python-socketio calls it "server disconnect").
    # Neither is a Socket.IO DISCONNECT, after which clients would stay away.
    assert ws_events.wait_for("disconnect", timeout=5) in ("transport close", "transport error")
    polling_events.wait_for("disconnect", timeout=5)
    server.process.wait(30)
    elapsed = time.monotonic() - started
    # The stuck request held the shutdown until the 2-second bound, not longer.
    assert 1.5 < elapsed < 10, elapsed
    stuck.close()
