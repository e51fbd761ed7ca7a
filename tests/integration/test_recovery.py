"""Connection-state recovery (socket.io 4.6's `pid` + `offset`), driven at the protocol level:
python-socketio's client does not implement it, so these tests speak Engine.IO/Socket.IO over a
plain WebSocket, as socket.io-client 4.8 does."""
import json
import signal
import subprocess
import time
import uuid

import pytest
import requests
import websocket

from conftest import ADMIN_URL, MONGODB_URI, fresh_database, fresh_mongo_database

needs_postgres = pytest.mark.skipif(not ADMIN_URL, reason="PARLEY_TEST_DATABASE_URL is not set (scripts/test sets it)")


class RawClient:
    """One Socket.IO connection to `/` over WebSocket, packet by packet."""

    def __init__(self, server, auth):
        host = server.url.replace("http://", "ws://")
        self.ws = websocket.create_connection(f"{host}/socket.io/?EIO=4&transport=websocket", timeout=10,
                                              suppress_origin=True)
        opening = self.ws.recv()
        assert opening.startswith("0"), opening
        self.ws.send("40" + json.dumps(auth))
        self.answer = self._next_socketio()

    def _next_socketio(self):
        while True:
            frame = self.ws.recv()
            if frame == "2":
                self.ws.send("3")
                continue
            assert frame.startswith("4"), frame
            return frame[1:]

    @property
    def connected(self):
        """The CONNECT answer's payload (`sid`, `pid`), or None if it was refused."""
        return json.loads(self.answer[1:]) if self.answer.startswith("0") else None

    def event(self):
        """The next event as (name, arguments); presence changes, which are not recovered, are
        passed over."""
        while True:
            packet = self._next_socketio()
            assert packet.startswith("2"), packet
            data = json.loads(packet[1:])
            if data[0] not in ("user-online", "user-offline"):
                return data[0], data[1:]

    def events_until(self, name, predicate=lambda args: True):
        """Events up to and including the first `name` whose arguments match."""
        seen = []
        while True:
            event = self.event()
            seen.append(event)
            if event[0] == name and predicate(event[1]):
                return seen

    def cut(self):
        """The transport goes away without a goodbye (as a phone changing networks)."""
        self.ws.sock.shutdown(2)
        self.ws.close(timeout=0)


def send(server, user, to, text):
    reply = requests.post(server.url + "/api/message", json={"to": to["_id"], "text": text},
                          cookies={"jwt": user["token"]}, timeout=10)
    assert reply.status_code == 201, reply.text
    return reply.json()


def offset_of(arguments):
    assert isinstance(arguments[-1], str), arguments
    return arguments[-1]



def test_a_burst_of_missed_messages_comes_back_in_order_once(parley, store_env):
    server = parley(env=store_env)
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    client = RawClient(server, {"token": ann["token"]})
    first = client.connected
    assert first and first["pid"]
    # Every socket gets an offset as it connects, with online-users.
    name, arguments = client.event()
    assert name == "online-users"
    offset = offset_of(arguments)
    send(server, bob, ann, "seen")
    name, arguments = client.event()
    assert name == "new-message" and arguments[0]["text"] == "seen"
    offset = offset_of(arguments)
    client.cut()

    missed = [send(server, bob, ann, f"missed {n}")["_id"] for n in range(1000)]
    again = RawClient(server, {"token": ann["token"], "pid": first["pid"], "offset": offset})
    assert again.connected == {"sid": first["sid"], "pid": first["pid"]}
    replayed = again.events_until("online-users")
    messages = [args[0]["_id"] for name, args in replayed if name == "new-message"]
    assert messages == missed
    # Then a fresh presence list, and new events live, each once.
    assert [name for name, _ in replayed].count("online-users") == 1
    live = send(server, bob, ann, "after")
    name, arguments = again.event()
    assert name == "new-message" and arguments[0]["_id"] == live["_id"]


def test_more_than_a_send_buffer_of_missed_events_connects_anew(parley):
    """A replay is written at once: one larger than a socket's send buffer (4 MiB) filled it and the
    socket was closed, and every recovery held all it read. The client connects anew and catches
    up over REST instead."""
    server = parley()
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    client = RawClient(server, {"token": ann["token"]})
    first = client.connected
    _, arguments = client.event()
    offset = offset_of(arguments)
    client.cut()
    text = "x" * 4990
    for n in range(900):  # 4.5 MB of text
        send(server, bob, ann, f"{n:04} {text}")
    again = RawClient(server, {"token": ann["token"], "pid": first["pid"], "offset": offset})
    # Not recovered (a new pid: socket.recovered is false), nothing replayed.
    assert again.connected["pid"] != first["pid"]
    name, _ = again.event()
    assert name == "online-users"
    assert requests.get(server.url + "/healthz").ok


def test_edits_deletions_and_read_receipts_are_replayed(parley):
    server = parley()
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    kept = send(server, bob, ann, "to edit")
    gone = send(server, bob, ann, "to delete")
    client = RawClient(server, {"token": bob["token"]})
    _, arguments = client.event()
    offset = offset_of(arguments)
    client.cut()
    bob_http = {"jwt": bob["token"]}
    assert requests.patch(f"{server.url}/api/message/{kept['_id']}", json={"text": "edited"}, cookies=bob_http).ok
    assert requests.delete(f"{server.url}/api/message/{gone['_id']}", cookies=bob_http).ok
    assert requests.post(f"{server.url}/api/message/{bob['_id']}/read", json={"upTo": gone["_id"]},
                         cookies={"jwt": ann["token"]}).ok
    again = RawClient(server, {"token": bob["token"], "pid": client.connected["pid"], "offset": offset})
    assert again.connected["pid"] == client.connected["pid"]
    names = [name for name, _ in again.events_until("online-users")]
    assert names == ["message-updated", "message-deleted", "messages-read", "online-users"]


def test_a_logged_out_token_gets_no_recovery_and_no_connection(parley):
    server = parley()
    ann = server.signup(name="Ann")
    client = RawClient(server, {"token": ann["token"]})
    _, arguments = client.event()
    client.cut()
    assert requests.post(server.url + "/api/auth/logout", cookies={"jwt": ann["token"]}).ok
    again = RawClient(server, {"token": ann["token"], "pid": client.connected["pid"], "offset": offset_of(arguments)})
    assert again.connected is None
    assert json.loads(again.answer[1:]) == {"message": "unauthorized"}


def test_someone_elses_pid_recovers_nothing(parley):
    server = parley()
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    client = RawClient(server, {"token": ann["token"]})
    _, arguments = client.event()
    client.cut()
    # Refused whether or not the server has noticed the cut yet: the pid names its user.
    stolen = RawClient(server, {"token": bob["token"], "pid": client.connected["pid"], "offset": offset_of(arguments)})
    assert stolen.connected is None
    assert json.loads(stolen.answer[1:]) == {"message": "unauthorized"}
    forged = client.connected["pid"][:-1] + ("0" if client.connected["pid"][-1] != "0" else "1")
    again = RawClient(server, {"token": ann["token"], "pid": forged, "offset": offset_of(arguments)})
    assert again.connected["sid"] != client.connected["sid"]


def test_too_late_or_unknown_connects_anew(parley):
    server = parley(env={"SOCKET_RECOVERY_SECONDS": "1"})
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    client = RawClient(server, {"token": ann["token"]})
    _, arguments = client.event()
    client.cut()
    send(server, bob, ann, "while away")
    time.sleep(1.5)  # the recovery window is wall-clock time in the server
    late = RawClient(server, {"token": ann["token"], "pid": client.connected["pid"], "offset": offset_of(arguments)})
    assert late.connected["sid"] != client.connected["sid"]
    assert late.connected["pid"] != client.connected["pid"]
    name, _ = late.event()
    assert name == "online-users"  # nothing replayed: the client catches up over REST
    unknown = RawClient(server, {"token": ann["token"], "pid": "nobody", "offset": "x-1"})
    assert unknown.connected["pid"] != "nobody"


def test_hostile_offsets_and_pids_connect_anew(parley, store_env):
    server = parley(env=store_env)
    ann = server.signup(name="Ann")
    client = RawClient(server, {"token": ann["token"]})
    _, arguments = client.event()
    client.cut()
    pid = client.connected["pid"]
    # Offsets ahead of anything the user heard too: recovered, the socket would be sent nothing
    # until the positions passed it.
    # (From the database an offset is a position; from memory, as on MongoDB, `<prefix>-<count>`.)
    prefix, _, count = offset_of(arguments).rpartition("-")
    ahead = [(f"{prefix}-" if prefix else "") + str(int(count) + 1000), "9223372036854775807"]
    for offset in ["-1", "1.5", "99999999999999999999999", "", " 7", "0x10", "\u0000", "1" * 500] + ahead:
        again = RawClient(server, {"token": ann["token"], "pid": pid, "offset": offset})
        assert again.connected and again.connected["pid"] != pid, offset
        again.ws.close()
    for bad in ["..", "a.b.c", pid + "x", pid.replace(".", ".."), "x" * 1000, "\u00e9.6b146c10b6ec89728cb95147.00"]:
        again = RawClient(server, {"token": ann["token"], "pid": bad, "offset": offset_of(arguments)})
        assert again.connected and again.connected["pid"] != bad, (bad[:40], again.answer)
        again.ws.close()
    # A CONNECT larger than the module takes is refused as such.
    huge = RawClient(server, {"token": ann["token"], "pid": "x" * 10000, "offset": offset_of(arguments)})
    assert huge.connected is None and json.loads(huge.answer[1:]) == {"message": "Payload too large"}
    # Offsets and pids of other types are not a recovery request at all.
    again = RawClient(server, {"token": ann["token"], "pid": 7, "offset": [1]})
    assert again.connected["pid"] != pid
    assert requests.get(server.url + "/healthz").ok


def test_recovery_can_be_turned_off(parley):
    server = parley(env={"SOCKET_RECOVERY_SECONDS": "0"})
    ann = server.signup(name="Ann")
    client = RawClient(server, {"token": ann["token"]})
    assert set(client.connected) == {"sid"}
    name, arguments = client.event()
    assert name == "online-users" and len(arguments) == 1


def missed_while_away(server, ann, bob, count=100):
    """Bob sends `count` messages to Ann, edits the first, deletes the second, and Ann reads up to
    the third from another device: what Ann's cut socket must get back, in order."""
    missed = [send(server, bob, ann, f"missed {n}")["_id"] for n in range(count)]
    bob_http, ann_http = {"jwt": bob["token"]}, {"jwt": ann["token"]}
    assert requests.patch(f"{server.url}/api/message/{missed[0]}", json={"text": "edited"}, cookies=bob_http).ok
    assert requests.delete(f"{server.url}/api/message/{missed[1]}", cookies=bob_http).ok
    assert requests.post(f"{server.url}/api/message/{bob['_id']}/read", json={"upTo": missed[2]}, cookies=ann_http).ok
    return missed


def assert_recovered(again, first, missed):
    assert again.connected == {"sid": first["sid"], "pid": first["pid"]}
    replayed = again.events_until("online-users")
    names = [name for name, _ in replayed]
    assert names == ["new-message"] * len(missed) + ["message-updated", "message-deleted", "messages-read",
                                                     "online-users"]
    assert [args[0]["_id"] for name, args in replayed if name == "new-message"] == missed
    # Positions in Ann's history, increasing; the fresh presence list marks the last one.
    offsets = [int(offset_of(args)) for _, args in replayed]
    assert offsets[:-1] == sorted(set(offsets[:-1])) and offsets[-1] == offsets[-2]


@needs_postgres
def test_on_another_instance_it_recovers_from_the_database(parley):
    env = {"DATABASE_URL": fresh_database()}
    one, two = parley(env=env), parley(env=env)
    ann, bob = one.signup(name="Ann"), one.signup(name="Bob")
    client = RawClient(one, {"token": ann["token"]})
    _, arguments = client.event()
    client.cut()
    missed = missed_while_away(two, ann, bob)
    again = RawClient(two, {"token": ann["token"], "pid": client.connected["pid"], "offset": offset_of(arguments)})
    assert_recovered(again, client.connected, missed)
    live = send(one, bob, ann, "after")
    name, arguments = again.event()
    assert name == "new-message" and arguments[0]["_id"] == live["_id"]


@needs_postgres
def test_after_its_instance_was_killed_it_recovers_on_another(parley):
    env = {"DATABASE_URL": fresh_database()}
    one, two = parley(env=env), parley(env=env)
    ann, bob = one.signup(name="Ann"), one.signup(name="Bob")
    client = RawClient(one, {"token": ann["token"]})
    _, arguments = client.event()
    name, arguments = send_and_hear(one, bob, ann, client)
    one.stop(signal.SIGKILL)
    missed = missed_while_away(two, ann, bob)
    again = RawClient(two, {"token": ann["token"], "pid": client.connected["pid"], "offset": offset_of(arguments)})
    assert_recovered(again, client.connected, missed)


def test_sqlite_recovers_after_the_server_was_killed_and_restarted(parley, tmp_path):
    server = parley(data_dir=tmp_path / "data")
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    client = RawClient(server, {"token": ann["token"]})
    _, arguments = client.event()
    server.stop(signal.SIGKILL)
    server = parley(data_dir=tmp_path / "data")
    missed = missed_while_away(server, ann, bob)
    again = RawClient(server, {"token": ann["token"], "pid": client.connected["pid"], "offset": offset_of(arguments)})
    assert_recovered(again, client.connected, missed)


def send_and_hear(server, sender, to, client):
    """A message `client` hears live: its event name and arguments."""
    sent = send(server, sender, to, "heard")
    name, arguments = client.event()
    assert name == "new-message" and arguments[0]["_id"] == sent["_id"]
    return name, arguments


def frames_until_closed(client):
    """Socket.IO frames until the server closes the connection (heartbeats answered)."""
    frames = []
    while True:
        try:
            frame = client.ws.recv()
        except websocket.WebSocketConnectionClosedException:
            return frames
        if frame == "":  # the close frame
            return frames
        if frame == "2":
            client.ws.send("3")
            continue
        frames.append(frame)


@needs_postgres
def test_a_socket_that_missed_events_while_the_bus_was_lost_recovers_them(parley):
    """The instance's LISTEN connection drops (a database restart, a network cut): what is stored
    until it listens again never reaches it. The sockets whose users missed something are closed
    as a lost network would close them, and their clients recover it from the database."""
    url = fresh_database()
    server = parley(env={"DATABASE_URL": url})
    ann, bob, cat = server.signup(name="Ann"), server.signup(name="Bob"), server.signup(name="Cat")
    client = RawClient(server, {"token": ann["token"]})
    client.event()
    _, arguments = send_and_hear(server, bob, ann, client)
    # Cat misses nothing, and hears a message once the bus is back: Cat stays connected.
    bystander = RawClient(server, {"token": cat["token"]})
    bystander.event()
    send_and_hear(server, bob, cat, bystander)
    # A database outage: the instance's connections end, and it cannot open new ones while a
    # message is stored (announced by the table's trigger, to no instance). A psql session
    # listens throughout, as another instance would: PostgreSQL starts the instance's new LISTEN
    # past what that session read. (With no other listener, a new LISTEN may be handed what the
    # queue still holds, and the message would come live.)
    missed = uuid.uuid4().hex[:24]
    database = url.rsplit("/", 1)[1].split("?")[0]
    listener = subprocess.Popen(["psql", url, "-Atq", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def admin(sql):
        return subprocess.run(["psql", ADMIN_URL, "-Atq", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                              capture_output=True, text=True).stdout.strip()

    try:
        listener.stdin.write("LISTEN parley_events;\nSELECT pg_backend_pid();\n")
        listener.stdin.flush()
        own = int(listener.stdout.readline())
        admin(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
        # A connection the instance was opening as connections were refused may still arrive.
        for _ in range(50):
            others = f"FROM pg_stat_activity WHERE datname = '{database}' AND pid <> {own}"
            admin(f"SELECT pg_terminate_backend(pid, 5000) {others}")
            if admin(f"SELECT count(*) {others}") == "0":
                break
        else:
            pytest.fail("the instance's connections did not all end")
        listener.stdin.write(
            "INSERT INTO messages (id, sender_id, receiver_id, text, created_at, updated_at) "
            f"VALUES ('{missed}', '{bob['_id']}', '{ann['_id']}', 'while the bus was lost', now(), now());\n"
            "SELECT 'stored';\n")
        listener.stdin.flush()
        assert any(line.strip() == "stored" for line in iter(listener.stdout.readline, ""))
        listening = server.output().count("Listening for cluster events again")
        admin(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
        # Once the instance listens again (a message stored before that is missed too); it may
        # have listened for a moment during the outage, on a connection it was opening.
        deadline = time.monotonic() + 20
        while server.output().count("Listening for cluster events again") == listening:
            assert time.monotonic() < deadline, server.output()[-2000:]
            time.sleep(0.02)
        after = send(server, bob, cat, "after the outage")
        # Ann may hear this one live before her socket is closed: her client must not take its
        # offset, or her recovery would start past the message she missed.
        also = send(server, bob, ann, "also after the outage")
        # Should the instance's listener have come back in between (a connection it was opening
        # as they were refused), its first pass waits for a barrier through a bus that is down.
        client.ws.settimeout(30)
        frames = frames_until_closed(client)
    finally:
        listener.communicate("\\q\n", timeout=10)
    # Closed as a network would close it: no DISCONNECT (the client would not come back), and
    # the message was not heard live.
    assert not any(frame.startswith("41") for frame in frames), frames
    assert not any(missed in frame for frame in frames), frames
    # As socket.io-client does, the offset is the last one an event carried.
    offset = offset_of(arguments)
    for frame in frames:
        data = json.loads(frame[2:]) if frame.startswith("42") else []
        if len(data) > 2 and isinstance(data[-1], str):
            offset = data[-1]
    again = RawClient(server, {"token": ann["token"], "pid": client.connected["pid"], "offset": offset})
    assert again.connected == {"sid": client.connected["sid"], "pid": client.connected["pid"]}
    replayed = again.events_until("online-users")
    assert [args[0]["_id"] for name, args in replayed if name == "new-message"] == [missed, also["_id"]]
    live = send(server, bob, ann, "after")
    name, arguments = again.event()
    assert name == "new-message" and arguments[0]["_id"] == live["_id"]
    # Cat's socket was not closed: it heard its message live, and goes on.
    name, arguments = bystander.event()
    assert name == "new-message" and arguments[0]["_id"] == after["_id"]
    assert send_and_hear(server, bob, cat, bystander)
