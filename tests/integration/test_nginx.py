"""Parley behind nginx with the repository's own nginx configuration (docker/nginx), in front of
two instances on one PostgreSQL: what the compose deployment runs, without Docker."""
import os
import shutil
import signal
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_URL, free_port, fresh_database
from realtime_support import connect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCATIONS = os.path.join(ROOT, "docker", "nginx", "parley-locations.conf")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = [
    pytest.mark.skipif(not ADMIN_URL, reason="PARLEY_TEST_DATABASE_URL is not set (scripts/test sets it)"),
    pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed (scripts/test installs it)"),
]


@pytest.fixture
def proxied(parley, tmp_path):
    """Two instances and nginx in front of them; yields (nginx URL, first, second)."""
    env = {"DATABASE_URL": fresh_database(), "TRUST_PROXY": "true", "PRESENCE_GRACE_MS": "300"}
    first, second = parley(env=env), parley(env=env)
    port = free_port()
    for directory in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / directory).mkdir()
    conf = tmp_path / "nginx.conf"
    # As root, nginx's workers would switch to an unprivileged user that cannot reach the test's
    # temporary directory.
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format ids '$request_id $status $request_uri';
    access_log {tmp_path}/access.log ids;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    upstream parley {{
        ip_hash;
        server 127.0.0.1:{first.port};
        server 127.0.0.1:{second.port};
    }}
    server {{
        listen 127.0.0.1:{port};
        include {LOCATIONS};
    }}
}}
""")
    process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=open(tmp_path / "nginx.out", "wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None, (tmp_path / "nginx.out").read_text()
        assert time.monotonic() < deadline, "nginx did not start"
        time.sleep(0.05)

    class Proxy:
        pass
    proxy = Proxy()
    proxy.url = url
    proxy.access_log = tmp_path / "access.log"
    yield proxy, first, second
    process.send_signal(signal.SIGQUIT)
    process.wait(10)


@pytest.mark.parametrize("transports", [("websocket",), ("polling",), ("polling", "websocket")])
def test_realtime_through_nginx(proxied, transports):
    proxy, first, second = proxied
    ann = first.signup(name="Ann")
    bob = second.signup(name="Bob")
    # Ann through nginx (any transport, including the polling-to-WebSocket upgrade); Bob straight
    # to the second instance.
    a, a_events = connect(proxy, token=ann["token"], transports=transports)
    b, b_events = connect(second, token=bob["token"])
    a_events.wait_for("online-users")
    ack = b.call("send-message", {"to": ann["_id"], "text": "through the proxy"})
    assert ack["ok"] is True
    assert a_events.wait_for("new-message", lambda p: p["_id"] == ack["message"]["_id"])["text"] == "through the proxy"
    reply = a.call("send-message", {"to": bob["_id"], "text": "and back"})
    assert reply["ok"] is True
    assert b_events.wait_for("new-message", lambda p: p["_id"] == reply["message"]["_id"])["text"] == "and back"
    assert a.call("mark-read", {"with": bob["_id"], "upTo": ack["message"]["_id"]})["marked"] == 1
    assert b_events.wait_for("messages-read")["by"] == ann["_id"]
    b.emit("typing", {"to": ann["_id"]})
    assert a_events.wait_for("typing") == {"from": bob["_id"]}
    # Long enough for several long-poll cycles and a heartbeat through nginx.
    time.sleep(0.5)
    assert a.connected
    for client in (a, b):
        client.disconnect()


def test_http_through_nginx_keeps_request_ids_and_client_addresses(proxied):
    proxy, first, second = proxied
    user = first.signup(name="Ann")
    reply = requests.get(proxy.url + "/api/auth/check", cookies={"jwt": user["token"]})
    assert reply.status_code == 200 and reply.json()["_id"] == user["_id"]
    # nginx's $request_id reaches Parley, which keeps it: one id in both logs and the answer.
    request_id = reply.headers["X-Request-Id"]
    deadline = time.monotonic() + 5
    while f"{request_id} 200 /api/auth/check" not in proxy.access_log.read_text():
        assert time.monotonic() < deadline, proxy.access_log.read_text()
        time.sleep(0.05)
    # A 5 MB image as a data URI fits through the proxy.
    import base64
    gif = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
    big = gif + b"\0" * (5 * 1024 * 1024 - len(gif) - 1024)
    bob = second.signup(name="Bob")
    sent = requests.post(proxy.url + "/api/message", cookies={"jwt": user["token"]},
                         json={"to": bob["_id"], "image": "data:image/gif;base64," + base64.b64encode(big).decode()})
    assert sent.status_code == 201, sent.text[:200]
