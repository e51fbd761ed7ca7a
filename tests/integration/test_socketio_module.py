"""The SocketIO module against a stock client: python-socketio talking to `socketio-conformance`."""
import os
import subprocess
import threading
import time

import pytest
import requests
import socketio

from conftest import BINARY, free_port

SERVER = os.path.join(os.path.dirname(BINARY), "socketio-conformance") if BINARY else ""


class Server:
    def __init__(self, tmp_path, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"conformance-{self.port}.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [SERVER, "--port", str(self.port), "--log-level", "info", *args],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while "listening" not in self.log_path.read_text():
            assert self.process.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, "socketio-conformance did not start"
            time.sleep(0.02)

    def stop(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture
def server(tmp_path):
    assert SERVER and os.path.exists(SERVER), "build socketio-conformance first (scripts/test does)"
    s = Server(tmp_path)
    yield s
    s.stop()


class Recorder:
    """Collects events; lets a test wait for one without sleeping blindly."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def __call__(self, name):
        def handler(*args):
            with self.cond:
                self.events.append((name, args))
                self.cond.notify_all()
        return handler

    def wait(self, name, count=1, timeout=10):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.of(name)) >= count, timeout), (name, self.events)
            return self.of(name)

    def of(self, name):
        return [args for (n, args) in self.events if n == name]


def client(server, transports, namespaces=("/",), auth=None):
    sio = socketio.Client(reconnection=False)
    recorder = Recorder()
    for ns in namespaces:
        sio.on("auth", recorder(f"auth{ns}"), namespace=ns)
    sio.connect(server.url, transports=list(transports), namespaces=list(namespaces), auth=auth, wait_timeout=10)
    return sio, recorder


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
def test_events_and_acks_on_each_transport(server, transports):
    sio, recorder = client(server, transports)
    try:
        assert sio.transport() == transports[0]
        assert recorder.wait("auth/") == [({},)]
        assert sio.call("echo", ["hello", 1, {"nested": [True, None]}]) == ["hello", 1, {"nested": [True, None]}]
        sio.on("message-back", recorder("message-back"))
        sio.emit("message", "one")
        sio.emit("message", "two")
        assert recorder.wait("message-back", 2) == [("one",), ("two",)], "events keep their order"
    finally:
        sio.disconnect()


def test_polling_then_upgrade_to_websocket(server):
    sio, recorder = client(server, ["polling", "websocket"])
    try:
        deadline = time.monotonic() + 10
        while sio.transport() != "websocket":
            assert time.monotonic() < deadline, "never upgraded"
            time.sleep(0.02)
        # Nothing sent across the upgrade is lost or reordered.
        results = [sio.call("echo", i) for i in range(20)]
        assert results == list(range(20))
    finally:
        sio.disconnect()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
def test_binary_both_ways(server, transports):
    sio, _ = client(server, transports)
    try:
        payload = bytes(range(256)) * 4
        assert sio.call("echo", {"file": payload, "name": "x.bin"}) == {"file": payload, "name": "x.bin"}
        recorder = Recorder()
        sio.on("message-back", recorder("message-back"))
        sio.emit("message", (b"\x01\x02", "text", b"\x03"))
        assert recorder.wait("message-back") == [(b"\x01\x02", "text", b"\x03")]
    finally:
        sio.disconnect()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
def test_server_to_client_acknowledgements(server, transports):
    sio, _ = client(server, transports, namespaces=["/test"])
    try:
        sio.on("question", lambda a, b: a + b, namespace="/test")
        assert sio.call("ask", ("question", 2, 3), namespace="/test") == {"answer": [5]}
        # A client that never answers: the server's ack times out.
        sio.on("ignored", lambda *args: None, namespace="/test")
    finally:
        sio.disconnect()


def test_several_namespaces_on_one_connection(server):
    sio, recorder = client(server, ["websocket"], namespaces=["/", "/custom", "/test"], auth={"name": "ann"})
    try:
        assert recorder.wait("auth/") == [({"name": "ann"},)]
        assert recorder.wait("auth/custom") == [({"name": "ann"},)]
        assert sio.call("whoami", namespace="/test") == "ann"
        assert sio.call("echo", "main") == "main"
        assert len(sio.namespaces) == 3
    finally:
        sio.disconnect()


def test_unknown_namespace_is_refused(server):
    sio = socketio.Client(reconnection=False)
    errors = Recorder()
    sio.on("connect_error", errors("error"), namespace="/nope")
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.url, namespaces=["/nope"], transports=["websocket"], wait_timeout=5)
    assert errors.wait("error") == [({"message": "Invalid namespace"},)]


def test_middleware_refuses_with_data(server):
    sio = socketio.Client(reconnection=False)
    errors = Recorder()
    sio.on("connect_error", errors("error"), namespace="/test")
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.url, namespaces=["/test"], auth={"token": "refuse"}, transports=["polling"], wait_timeout=5)
    assert errors.wait("error") == [({"message": "not allowed", "data": {"reason": "refused by test middleware"}},)]


def test_rooms_and_broadcast_to_many_clients(server):
    clients = []
    try:
        for i in range(24):
            sio, recorder = client(server, ["websocket" if i % 3 else "polling"], namespaces=["/test"])
            for event in ("room-news", "marker"):
                sio.on(event, recorder(event), namespace="/test")
            clients.append((sio, recorder))
        members = clients[::2]
        for sio, _ in members:
            rooms = sio.call("join", "club", namespace="/test")
            assert "club" in rooms
        sender = members[0][0]
        sender.call("to-room-except-me", ("club", "room-news", {"n": 1}), namespace="/test")
        # Then a marker to everyone: once a client has the marker, it has had everything before it.
        sender.call("to-room", ("club", "marker", "m"), namespace="/test")
        for sio, recorder in clients[1::2]:
            sio.call("join", "everyone", namespace="/test")
        sender.call("to-room", ("everyone", "marker", "m"), namespace="/test")
        for index, (sio, recorder) in enumerate(clients):
            recorder.wait("marker")
            got_news = recorder.of("room-news")
            if index == 0:
                assert got_news == [], "the sender is excluded"
            elif index % 2 == 0:
                assert got_news == [({"n": 1},)]
            else:
                assert got_news == [], "not in the room"
        # Everyone, through the main namespace's broadcast handler.
        main, recorder = client(server, ["websocket"])
        listeners = []
        for _ in range(10):
            other, other_recorder = client(server, ["polling"])
            other.on("broadcast", other_recorder("broadcast"))
            listeners.append((other, other_recorder))
        main.emit("broadcast", {"hello": "all"})
        for other, other_recorder in listeners:
            assert other_recorder.wait("broadcast") == [({"hello": "all"},)]
            other.disconnect()
        main.disconnect()
    finally:
        for sio, _ in clients:
            sio.disconnect()


def test_server_side_disconnect_of_a_namespace(server):
    sio, recorder = client(server, ["websocket"], namespaces=["/", "/test"])
    try:
        sio.on("disconnect", recorder("disconnect"), namespace="/test")
        sio.emit("kick-me", namespace="/test")
        recorder.wait("disconnect")
        # The connection and the other namespace live on.
        assert sio.call("echo", "still here") == "still here"
    finally:
        sio.disconnect()


def test_engine_io_errors_over_http(server):
    cases = [
        ("?transport=polling", 400, {"code": 5, "message": "Unsupported protocol version"}),
        ("?EIO=4", 400, {"code": 0, "message": "Transport unknown"}),
        ("?EIO=4&transport=polling&sid=nope", 400, {"code": 1, "message": "Session ID unknown"}),
        ("?EIO=4&transport=websocket", 400, {"code": 3, "message": "Bad request"}),
    ]
    for query, status, body in cases:
        reply = requests.get(server.url + "/socket.io/" + query)
        assert reply.status_code == status
        assert reply.json() == body
    reply = requests.post(server.url + "/socket.io/?EIO=4&transport=polling")
    assert reply.json() == {"code": 2, "message": "Bad handshake method"}


def test_oversized_post_is_413_and_the_session_survives(tmp_path):
    s = Server(tmp_path, "--conformance")
    try:
        sid = requests.get(s.url + "/engine.io/?EIO=4&transport=polling").text
        sid = sid[sid.index('"sid":"') + 7:].split('"')[0]
        url = s.url + f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        assert requests.post(url, data="4" + "x" * 1_000_000).status_code == 413
        assert requests.post(url, data="4hello").text == "ok"
        assert requests.get(url).text == "4hello"
    finally:
        s.stop()


def raw_websocket_join(url, room):
    """A bare WebSocket client that joins `room` in /test and then never reads again."""
    import websocket
    ws = websocket.create_connection(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket")
    assert ws.recv().startswith("0{")
    ws.send("40/test,")
    assert ws.recv().startswith("40/test,")
    ws.send(f'42/test,1["join","{room}"]')
    assert ws.recv().startswith("43/test,1")
    return ws


def test_a_client_that_never_reads_is_disconnected(server):
    stalled = raw_websocket_join(server.url, "stalled")
    control, _ = client(server, ["websocket"], namespaces=["/test"])
    try:
        assert control.call("count", "stalled", namespace="/test") == 1
        chunk = "x" * 500_000
        for _ in range(200):
            control.call("to-room", ("stalled", "flood", chunk), namespace="/test")
            if control.call("count", "stalled", namespace="/test") == 0:
                break
        assert control.call("count", "stalled", namespace="/test") == 0, "the stalled client is still buffered for"
    finally:
        control.disconnect()
        stalled.close()


def test_a_polling_client_that_never_polls_is_disconnected(server):
    sid = requests.get(server.url + "/socket.io/?EIO=4&transport=polling").text.split('"sid":"')[1].split('"')[0]
    url = server.url + f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert requests.post(url, data="40/test,").text == "ok"
    assert requests.get(url).text.startswith("40/test,")
    assert requests.post(url, data='42/test,1["join","lazy"]').text == "ok"
    control, _ = client(server, ["websocket"], namespaces=["/test"])
    try:
        chunk = "x" * 500_000
        for _ in range(100):
            control.call("to-room", ("lazy", "flood", chunk), namespace="/test")
            if control.call("count", "lazy", namespace="/test") == 0:
                break
        assert control.call("count", "lazy", namespace="/test") == 0
    finally:
        control.disconnect()


def test_asyncio_client_upgrades_to_websocket(server):
    """aiohttp pools connections and would reuse a polling one for the upgrade; it must still upgrade."""
    import asyncio

    async def run():
        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(server.url, transports=["polling", "websocket"], wait_timeout=10)
        try:
            for _ in range(200):
                if sio.transport() == "websocket":
                    break
                await asyncio.sleep(0.02)
            assert sio.transport() == "websocket"
            assert await sio.call("echo", {"via": "asyncio"}, timeout=10) == {"via": "asyncio"}
        finally:
            await sio.disconnect()

    asyncio.run(asyncio.wait_for(run(), 30))


def test_base64_binary_over_websocket(server):
    """Clients with forceBase64 send and expect binary as `b<base64>` text frames (b64=1)."""
    import websocket
    ws = websocket.create_connection(server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket&b64=1")
    try:
        assert ws.recv().startswith("0{")
        ws.send("40")
        assert ws.recv().startswith("40{")
        assert ws.recv() == '42["auth",{}]'
        ws.send('451-1["echo",{"_placeholder":true,"num":0}]')
        ws.send("bAQID")
        assert ws.recv() == '461-1[{"_placeholder":true,"num":0}]'
        reply = ws.recv()
        assert isinstance(reply, str) and reply == "bAQID", reply
    finally:
        ws.close()
