"""Requests a hostile client sends, against a running server: each is answered (or the connection
closed) in bounded time, and the server keeps serving everyone else."""
import json
import socket
import ssl
import threading
import time

import requests
import socketio


def raw_exchange(server, payload, timeout=5.0):
    """Sends `payload` on a fresh connection; returns (bytes received, seconds until the server
    closed the connection). Fails if the server keeps it open past `timeout`."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as conn:
        try:
            conn.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError(f"still open after {timeout}s; got {received[:80]!r}")
            if not chunk:
                break
            received += chunk
    return received, time.monotonic() - started


def assert_alive(server):
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
    assert server.process.poll() is None, server.output()


def multipart(name_bytes):
    return b"--X\r\n" + name_bytes + b": a\r\n\r\nv\r\n--X--\r\n"


def test_a_non_ascii_multipart_header_name_is_a_400_not_a_crash(parley):
    server = parley()
    user = server.signup()
    cookie = {"jwt": user["token"]}
    headers = {"Content-Type": "multipart/form-data; boundary=X"}
    for path, method, cookies in [
        ("/api/auth/signup", "POST", None),
        ("/api/message", "POST", cookie),
        ("/api/auth/update", "PUT", cookie),
    ]:
        for body in (multipart(b"\xff"), multipart(b"Content-Type\x80")):
            reply = requests.request(method, server.url + path, data=body, headers=headers, cookies=cookies)
            assert reply.status_code == 400, (path, reply.text)
            assert reply.json()["code"] == "invalid_multipart"
    assert_alive(server)


def tls_client_hello():
    """The first bytes a TLS client sends, made by Python's own TLS stack."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def test_malformed_requests_are_answered_and_closed(parley):
    server = parley()
    cases = {
        "an 80 KB header block": b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 90_000 + b"\r\n\r\n",
        "a negative Content-Length": b"POST /api/auth/login HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n",
        "a NUL in a header": b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n",
        "a TLS ClientHello": tls_client_hello(),
        "10,000 headers": b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 10_000 + b"\r\n",
        "a 1 MB URL": b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        "a header name with a trailing space": b"GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n",
        "a WebSocket upgrade with a broken header": b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        b"Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-\x01: b\r\n\r\n",
    }
    for name, payload in cases.items():
        received, seconds = raw_exchange(server, payload)
        status = received.split(b" ", 2)[1] if received.startswith(b"HTTP/1.1 ") else b""
        assert status in (b"400", b"431"), (name, received[:200])
        assert seconds < 3, (name, seconds)
    assert_alive(server)


def test_a_websocket_handshake_with_wrong_headers_gets_a_400_saying_which(parley):
    """NIO's upgrader used to drop these without a word; `ws` under Node answers them 400 too."""
    server = parley()
    start = (b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: a\r\n"
             b"Upgrade: websocket\r\nConnection: Upgrade\r\n")
    key, version = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b"Sec-WebSocket-Version: 13\r\n"
    cases = {
        "version 8": (key + b"Sec-WebSocket-Version: 8\r\n", "Sec-WebSocket-Version"),
        "no version": (key, "Sec-WebSocket-Version"),
        "two versions": (key + version + version, "Sec-WebSocket-Version"),
        "no key": (version, "Sec-WebSocket-Key"),
        "a key that is not 16 bytes": (b"Sec-WebSocket-Key: x\r\n" + version, "Sec-WebSocket-Key"),
        "two keys": (key + key + version, "Sec-WebSocket-Key"),
    }
    for name, (headers, field) in cases.items():
        received, seconds = raw_exchange(server, start + headers + b"\r\n")
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), (name, received[:200])
        assert json.loads(body) == {"code": 3, "message": f"Missing or invalid {field} header"}, (name, body)
        assert seconds < 3, (name, seconds)
    # The right headers still upgrade.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(start + key + version + b"\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 101 ")
    assert_alive(server)


def test_a_request_head_must_arrive_in_time(parley):
    server = parley(env={"HTTP_HEADER_TIMEOUT_MS": "1000"})
    # Nothing at all, then a head trickled byte by byte: both closed at the limit.
    received, seconds = raw_exchange(server, b"")
    assert received == b"" and 0.8 < seconds < 3, seconds

    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: a\r\n":
            try:
                conn.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
        if not closed:
            conn.settimeout(3)
            assert conn.recv(100) == b""
    assert time.monotonic() - started < 4
    assert_alive(server)


def test_idle_keep_alive_connections_are_closed(parley):
    server = parley(env={"HTTP_IDLE_TIMEOUT_MS": "1000"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        reply = b""
        while not reply.endswith(b"}"):
            reply += conn.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert conn.recv(100) == b""
        assert 0.8 < time.monotonic() - started < 3


def test_a_stalled_body_gets_a_408(parley):
    server = parley(env={"HTTP_BODY_TIMEOUT_MS": "1000"})
    received, seconds = raw_exchange(
        server, b"POST /api/auth/login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{\"email\":")
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert 0.8 < seconds < 3


def test_thousands_of_idle_connections_are_closed_and_the_server_keeps_answering(parley):
    server = parley(env={"HTTP_HEADER_TIMEOUT_MS": "2000"})
    idle = []
    try:
        for _ in range(3000):
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        assert_alive(server)
        time.sleep(2.5)
        # Closed by the server: each reads end-of-stream at once.
        for conn in idle[::100]:
            conn.settimeout(2)
            assert conn.recv(10) == b""
    finally:
        for conn in idle:
            conn.close()
    assert_alive(server)


def test_long_polls_and_websockets_outlive_the_http_limits(parley):
    server = parley(env={
        "HTTP_HEADER_TIMEOUT_MS": "500", "HTTP_IDLE_TIMEOUT_MS": "500", "HTTP_BODY_TIMEOUT_MS": "500",
        "SOCKETIO_PING_INTERVAL_MS": "3000", "SOCKETIO_PING_TIMEOUT_MS": "3000",
    })
    user = server.signup()
    for transports in (["polling"], ["websocket"]):
        client = socketio.Client(reconnection=False)
        got = threading.Event()
        client.on("online-users", lambda *_: got.set())
        client.connect(server.url, transports=transports, auth={"token": user["token"]}, wait_timeout=5)
        assert got.wait(5)
        # Several HTTP limits pass: a long-poll waits for the next ping, a WebSocket stays open.
        time.sleep(2)
        assert client.connected, transports
        client.disconnect()
    assert_alive(server)


def test_handshakes_past_the_connection_cap_get_503_until_a_session_closes(parley):
    """Sessions that never join a namespace live until the connect timeout: a flood of handshakes
    must meet a bound, not grow memory for as long as it lasts."""
    server = parley(env={"SOCKET_MAX_CONNECTIONS": "3"})
    handshake = server.url + "/socket.io/?EIO=4&transport=polling"
    sids = []
    for _ in range(3):
        response = requests.get(handshake, timeout=5)
        assert response.status_code == 200, response.text
        sids.append(json.loads(response.text[1:])["sid"])
    full = requests.get(handshake, timeout=5)
    assert full.status_code == 503
    assert full.json() == {"code": 3, "message": "Server is full"}
    # A session that closes (the client's CLOSE packet, then its last poll) makes room at once.
    closed = requests.post(f"{handshake}&sid={sids[0]}", data="1", timeout=5)
    assert closed.status_code == 200, closed.text
    requests.get(f"{handshake}&sid={sids[0]}", timeout=5)
    again = requests.get(handshake, timeout=5)
    assert again.status_code == 200, again.text
    assert_alive(server)


def test_a_large_connect_payload_is_refused(parley):
    """The CONNECT payload is kept for the socket's life: more than 8 KiB of it is refused."""
    server = parley()
    user = server.signup()
    client = socketio.Client(reconnection=False)
    refusals = []
    client.on("connect_error", lambda data: refusals.append(data))
    try:
        client.connect(server.url, transports=["websocket"], wait_timeout=5,
                       auth={"token": user["token"], "pad": "a" * 20_000})
        raise AssertionError("connected with a 20 KB CONNECT payload")
    except socketio.exceptions.ConnectionError:
        pass
    finally:
        client.disconnect()
    assert refusals == [{"message": "Payload too large"}], refusals
    # An ordinary one still connects.
    client = socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"], wait_timeout=5, auth={"token": user["token"]})
    assert client.connected
    client.disconnect()
    assert_alive(server)


def raw_http(port, request, source="127.0.0.1"):
    """One request on its own connection, from a chosen loopback address; the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as conn:
        conn.sendall(request.encode())
        return conn.recv(4096).split(b"\r\n", 1)[0].decode()


def test_a_session_id_alone_does_not_open_someone_elses_session(parley):
    """Engine.IO session ids are bound to what opened the session: a request carrying a token must
    carry the same one, a request carrying none must come from the same address."""
    server = parley(env={"LOG_LEVEL": "trace"})
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    client = socketio.Client(reconnection=False)
    got = threading.Event()
    client.on("online-users", lambda *_: got.set())
    # python-socketio sends these headers with the handshake only: its later polls carry nothing.
    client.connect(server.url, transports=["polling"], headers={"Cookie": f"jwt={ann['token']}"}, wait_timeout=5)
    assert got.wait(5)
    sid = client.eio.sid
    path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    send = '42["send-message",{"to":"%s","text":"not from Ann"}]' % bob["_id"]
    attempts = [
        ("127.0.0.2", ""),  # another address, no token
        ("127.0.0.1", f"Cookie: jwt={bob['token']}\r\n"),  # Ann's address, Bob's token
        ("127.0.0.2", f"Authorization: Bearer {bob['token']}\r\n"),
    ]
    for source, credential in attempts:
        poll = raw_http(server.port, f"GET {path} HTTP/1.1\r\nHost: a\r\n{credential}\r\n", source)
        assert poll.startswith("HTTP/1.1 400"), (source, credential, poll)
        post = raw_http(server.port, f"POST {path} HTTP/1.1\r\nHost: a\r\n{credential}Content-Type: text/plain\r\n"
                                     f"Content-Length: {len(send.encode())}\r\n\r\n{send}", source)
        assert post.startswith("HTTP/1.1 400"), (source, credential, post)
        # The WebSocket upgrade of that session, likewise.
        upgrade = raw_http(server.port, f"GET /socket.io/?EIO=4&transport=websocket&sid={sid} HTTP/1.1\r\nHost: a\r\n"
                                        f"{credential}Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                           source)
        assert upgrade.startswith("HTTP/1.1 400"), (source, credential, upgrade)
    # Nothing was sent as Ann; her own session goes on.
    assert requests.get(f"{server.url}/api/message/{bob['_id']}", cookies={"jwt": ann["token"]}).json() == []
    assert client.connected
    client.emit("typing", {"to": bob["_id"]})
    client.disconnect()
    # The server log never holds a session id.
    assert sid not in server.output()


def test_a_post_of_many_packets_each_answered_does_not_stall_the_session(parley):
    """Each CONNECT to an unknown namespace is answered with an error, which waits in the session
    for the next poll. Adding to that queue copied it every time: one POST of 166,000 of them, with
    no poll waiting, held the session's event loop (and every connection on it) for a minute."""
    server = parley()
    opened = requests.get(server.url + "/socket.io/?EIO=4&transport=polling", timeout=5)
    sid = json.loads(opened.text[1:])["sid"]
    path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    body = "\x1e".join(["40/nowhere,"] * 60_000)
    assert requests.post(server.url + path, data=body, timeout=30).status_code == 200
    # The session's own loop answers its next poll: the answers so far, or the close they led to
    # once they passed the session's buffer.
    started = time.monotonic()
    poll = requests.get(server.url + path, timeout=30)
    assert poll.status_code in (200, 400), poll.text[:200]
    assert time.monotonic() - started < 10, f"the poll took {time.monotonic() - started:.1f}s"
    assert_alive(server)
