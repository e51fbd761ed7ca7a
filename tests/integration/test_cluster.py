"""Several Parley instances on one database: realtime across instances, presence that survives a
killed instance, and a database restart during traffic.

The first tests run on PostgreSQL (LISTEN/NOTIFY) and, when MONGODB_URI is set, on MongoDB
(change streams: on a replica set or sharded cluster; forced with MONGODB_CLUSTER=on on a test
server that has them without saying it is a replica set; skipped on a standalone mongod)."""
import os
import signal
import subprocess
import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from conftest import ADMIN_URL, MONGODB_URI, fresh_database, fresh_mongo_database, psql
from realtime_support import connect

needs_postgres = pytest.mark.skipif(not ADMIN_URL, reason="PARLEY_TEST_DATABASE_URL is not set (scripts/test sets it)")

FAST_PRESENCE = {"PRESENCE_HEARTBEAT_MS": "300", "PRESENCE_TTL_MS": "2000", "PRESENCE_GRACE_MS": "300"}


def mongo_cluster_mode():
    """`auto` on a replica set or sharded cluster; `on` for a server that has change streams without
    saying it is a replica set (test servers); skips the test on a plain standalone mongod."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    client = MongoClient(MONGODB_URI, serverSelectionTimeoutMS=5000)
    try:
        handshake = client.admin.command("isMaster")
        if handshake.get("setName") or handshake.get("msg") == "isdbgrid":
            return "auto"
        try:
            client["parley_probe"].command({"aggregate": "probe", "pipeline": [{"$changeStream": {}}], "cursor": {}})
        except OperationFailure as error:
            pytest.skip(f"this MongoDB server has no change streams (a standalone server): {error}")
        return "on"
    finally:
        client.close()


@pytest.fixture(params=[
    pytest.param("postgres", marks=needs_postgres),
    pytest.param("mongodb", marks=pytest.mark.skipif(not MONGODB_URI, reason="MONGODB_URI is not set")),
])
def cluster(request, parley):
    if request.param == "postgres":
        env = {"DATABASE_URL": fresh_database(), **FAST_PRESENCE}
    else:
        env = {"MONGODB_URI": fresh_mongo_database("parley_cluster_"), "MONGODB_CLUSTER": mongo_cluster_mode(), **FAST_PRESENCE}
    first = parley(env=env)
    second = parley(env=env)
    return first, second


def test_events_cross_instances(cluster):
    one, two = cluster
    ann, bob, cat = one.signup(name="Ann"), two.signup(name="Bob"), one.signup(name="Cat")
    a, a_events = connect(one, token=ann["token"])
    b, b_events = connect(two, token=bob["token"], transports=("polling",))
    # The online list is cluster-wide.
    a_events.wait_for("user-online", lambda p: p == {"userId": bob["_id"]})
    c, c_events = connect(one, token=cat["token"])
    assert set(c_events.wait_for("online-users")) >= {ann["_id"], bob["_id"], cat["_id"]}
    # A message sent through instance two reaches Ann on instance one, and the other way round.
    sent = requests.post(two.url + "/api/message", json={"to": ann["_id"], "text": "via two"}, cookies={"jwt": bob["token"]})
    assert sent.status_code == 201
    assert a_events.wait_for("new-message", lambda p: p["_id"] == sent.json()["_id"])["text"] == "via two"
    ack = a.call("send-message", {"to": bob["_id"], "text": "via one"})
    assert ack["ok"] is True
    assert b_events.wait_for("new-message", lambda p: p["_id"] == ack["message"]["_id"])["text"] == "via one"
    # Typing crosses too.
    b.emit("typing", {"to": ann["_id"]})
    assert a_events.wait_for("typing") == {"from": bob["_id"]}
    # Logging out on one instance ends that token's sockets on the other.
    requests.post(one.url + "/api/auth/logout", cookies={"jwt": bob["token"]})
    b_events.wait_for("disconnect")
    for client in (a, c):
        client.disconnect()


def test_read_receipts_and_edits_cross_instances(cluster):
    one, two = cluster
    ann, bob = one.signup(name="Ann"), two.signup(name="Bob")
    a, a_events = connect(one, token=ann["token"])
    b, b_events = connect(two, token=bob["token"])
    sent = a.call("send-message", {"to": bob["_id"], "text": "across"})["message"]
    b_events.wait_for("new-message", lambda p: p["_id"] == sent["_id"])
    ack = b.call("mark-read", {"with": ann["_id"], "upTo": sent["_id"]})
    assert ack["ok"] is True and ack["marked"] == 1
    assert a_events.wait_for("messages-read") == {"by": bob["_id"], "with": ann["_id"], "upTo": sent["_id"],
                                                  "readAt": ack["readAt"]}
    requests.patch(one.url + f"/api/message/{sent['_id']}", json={"text": "across!"}, cookies={"jwt": ann["token"]})
    assert b_events.wait_for("message-updated")["text"] == "across!"
    requests.delete(one.url + f"/api/message/{sent['_id']}", cookies={"jwt": ann["token"]})
    assert b_events.wait_for("message-deleted")["_id"] == sent["_id"]
    # What Bob's instance shows is what Ann's wrote.
    page = requests.get(two.url + f"/api/message/{ann['_id']}", cookies={"jwt": bob["token"]}).json()
    assert page[0]["deletedAt"] and page[0]["readAt"] == ack["readAt"] and "text" not in page[0]
    for client in (a, b):
        client.disconnect()


def test_users_of_a_killed_instance_go_offline(cluster):
    one, two = cluster
    ann, bob, dan = one.signup(name="Ann"), two.signup(name="Bob"), one.signup(name="Dan")
    a, a_events = connect(one, token=ann["token"])
    b, _ = connect(two, token=bob["token"])
    # Dan has a device on each instance.
    d1, _ = connect(one, token=dan["token"])
    d2, _ = connect(two, token=dan["token"])
    a_events.wait_for("user-online", lambda p: p == {"userId": bob["_id"]})
    killed_at = time.monotonic()
    two.process.send_signal(signal.SIGKILL)
    two.process.wait()
    a_events.wait_for("user-offline", lambda p: p == {"userId": bob["_id"]}, timeout=15)
    elapsed = time.monotonic() - killed_at
    assert elapsed < 15, f"offline after {elapsed:.1f}s"
    # Dan is still connected through instance one: never reported offline.
    assert {"userId": dan["_id"]} not in a_events.of("user-offline")
    contacts = requests.get(one.url + "/api/message/users", cookies={"jwt": ann["token"]}).json()
    online = {c["_id"]: c["online"] for c in contacts}
    assert online[bob["_id"]] is False and online[dan["_id"]] is True
    for client in (a, d1):
        client.disconnect()


@needs_postgres
def test_an_instance_that_died_with_more_users_than_postgres_locks_at_once_is_removed(parley):
    """Removing a dead instance took a lock per user in one transaction: one that died with more
    users online than PostgreSQL's lock table holds (about 30,000 here, 6,400 on a default
    server) could never be removed, and every heartbeat failed on it (migration 0014)."""
    database = fresh_database()
    one = parley(env={"DATABASE_URL": database, **FAST_PRESENCE})
    ann, bob, cat = one.signup(name="Ann"), one.signup(name="Bob"), one.signup(name="Cat")
    a, a_events = connect(one, token=ann["token"])
    c, _ = connect(one, token=cat["token"])
    a_events.wait_for("user-online", lambda p: p == {"userId": cat["_id"]})

    # Bob and 50,000 others online through an instance that died an hour ago; the others are
    # online through a live instance too, so only Bob goes offline.
    psql(database, f"""
        INSERT INTO parley_instances (id, heartbeat_at)
            VALUES ('dead', now() - interval '1 hour'), ('elsewhere', now() + interval '1 day');
        INSERT INTO parley_presence (user_id, instance_id)
            SELECT lpad(to_hex(g), 24, '0'), i FROM generate_series(1, 50000) g, unnest(ARRAY['dead', 'elsewhere']) i
            UNION ALL SELECT '{bob["_id"]}', 'dead';
    """)
    a_events.wait_for("user-offline", lambda p: p == {"userId": bob["_id"]}, timeout=30)
    assert psql(database, "SELECT count(*) FROM parley_instances WHERE id = 'dead'") == "0"
    assert psql(database, "SELECT count(*) FROM parley_presence WHERE instance_id = 'dead'") == "0"
    assert psql(database, "SELECT count(*) FROM parley_presence WHERE instance_id = 'elsewhere'") == "50000"
    # The live instance, reaping, kept itself alive: Cat, connected to it, never went offline.
    assert [p for p in a_events.of("user-offline")] == [{"userId": bob["_id"]}]
    with open(one.log_path) as log:
        assert "Presence heartbeat failed" not in log.read()
    for client in (a, c):
        client.disconnect()


@needs_postgres
def test_an_instance_removed_while_it_stalled_registers_its_users_again(parley):
    """The others remove an instance that stalled past the TTL. Should a user connect to it before
    its next heartbeat, registering them inserts its row again; the heartbeat must still find it
    was removed (the row's incarnation, migration 0014) and register its other users again."""
    database = fresh_database()
    one = parley(env={"DATABASE_URL": database, "PRESENCE_HEARTBEAT_MS": "3000", "PRESENCE_TTL_MS": "10000",
                      "PRESENCE_GRACE_MS": "300"})
    ann, cat, dan = one.signup(name="Ann"), one.signup(name="Cat"), one.signup(name="Dan")
    a, a_events = connect(one, token=ann["token"])
    c, _ = connect(one, token=cat["token"])
    a_events.wait_for("user-online", lambda p: p == {"userId": cat["_id"]})
    # What the others do to an instance that stopped heartbeating.
    instance = psql(database, "SELECT id FROM parley_instances")
    psql(database, f"CALL parley_instance_remove_committed('{instance}')")
    a_events.wait_for("user-offline", lambda p: p == {"userId": cat["_id"]})
    # Dan connects within the heartbeat (3 s) that follows.
    d, _ = connect(one, token=dan["token"])

    def cat_back(events):
        gone = max(i for i, event in enumerate(events) if event == ("user-offline", {"userId": cat["_id"]}))
        return ("user-online", {"userId": cat["_id"]}) in events[gone + 1:]

    deadline = time.monotonic() + 15
    with a_events.cond:
        while not cat_back(a_events.events):
            assert time.monotonic() < deadline, f"Cat never came back online: {a_events.events}"
            a_events.cond.wait(deadline - time.monotonic())
    contacts = requests.get(one.url + "/api/message/users", cookies={"jwt": dan["token"]}).json()
    assert {c["_id"]: c["online"] for c in contacts}[cat["_id"]] is True
    for client in (a, c, d):
        client.disconnect()


@pytest.mark.skipif(not MONGODB_URI, reason="MONGODB_URI is not set")
def test_a_change_stream_resumes_after_losing_the_database(parley):
    """Instance one loses its database connection while instance two goes on: when it is back, its
    change stream resumes after the last event it read, so nothing sent meanwhile is missed."""
    from tcp_proxy import TcpProxy, mongodb_target, proxied_mongodb_uri

    parts = urlsplit(MONGODB_URI)
    common = {"MONGODB_CLUSTER": mongo_cluster_mode(), **FAST_PRESENCE, "PRESENCE_TTL_MS": "60000"}
    proxy = TcpProxy(*mongodb_target(MONGODB_URI))
    database = "parley_resume_" + uuid.uuid4().hex[:8]
    one = parley(env={"MONGODB_URI": proxied_mongodb_uri(MONGODB_URI, proxy.port, database,
                                                         serverSelectionTimeoutMS=1000), **common})
    two = parley(env={"MONGODB_URI": urlunsplit(parts._replace(path="/" + database)), **common})
    ann, bob = one.signup(name="Ann"), two.signup(name="Bob")
    a, a_events = connect(one, token=ann["token"])
    first = requests.post(two.url + "/api/message", json={"to": ann["_id"], "text": "before"},
                          cookies={"jwt": bob["token"]}).json()
    a_events.wait_for("new-message", lambda p: p["_id"] == first["_id"])

    proxy.cut()
    during = [requests.post(two.url + "/api/message", json={"to": ann["_id"], "text": f"during {n}"},
                            cookies={"jwt": bob["token"]}).json()["_id"] for n in range(3)]
    # The outage lasts until instance one has noticed it.
    deadline = time.monotonic() + 20
    while "Cluster event stream lost" not in one.output():
        assert time.monotonic() < deadline, "instance one never noticed the outage"
        time.sleep(0.05)
    proxy.restore()
    for message_id in during:
        a_events.wait_for("new-message", lambda p, m=message_id: p["_id"] == m, timeout=20)
    assert "Reading cluster events again" in one.output()
    a.disconnect()


def restart_postgres():
    pg_ctl, data = os.environ["PARLEY_TEST_PG_CTL"], os.environ["PARLEY_TEST_PG_DATA"]
    # -l: the restarted server must not inherit (and hold open) this process's pipes.
    command = [pg_ctl, "-D", data, "-l", os.path.join(data, "server.log"), "-m", "fast", "-w", "-t", "60", "restart"]
    if os.getuid() == 0:
        command = ["runuser", "-u", "postgres", "--"] + command
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90)


@needs_postgres
@pytest.mark.skipif("PARLEY_TEST_PG_CTL" not in os.environ, reason="needs the test command's PostgreSQL")
def test_a_database_restart_during_traffic_loses_no_stored_message(parley):
    env = {"DATABASE_URL": fresh_database(), **FAST_PRESENCE}
    cluster = (parley(env=env), parley(env=env))
    one, two = cluster
    ann, bob = one.signup(name="Ann"), two.signup(name="Bob")
    a, a_events = connect(one, token=ann["token"])
    acknowledged, failures = [], []
    stop = threading.Event()

    def send_loop():
        index = 0
        http = requests.Session()
        while not stop.is_set():
            try:
                reply = http.post(two.url + "/api/message", json={"to": ann["_id"], "text": f"n{index}"},
                                  cookies={"jwt": bob["token"]}, timeout=15)
                if reply.status_code == 201:
                    acknowledged.append(reply.json()["_id"])
                else:
                    failures.append(reply.status_code)
            except requests.RequestException as error:
                failures.append(str(error))
            index += 1

    sender = threading.Thread(target=send_loop)
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while len(acknowledged) < 20:
            assert time.monotonic() < deadline, failures
            time.sleep(0.01)
        restart_postgres()
        before = len(acknowledged)
        deadline = time.monotonic() + 30
        while len(acknowledged) < before + 20:
            assert time.monotonic() < deadline, f"no progress after the restart: {failures[-5:]}"
            time.sleep(0.05)
    finally:
        stop.set()
        sender.join()
    # Refused requests were refused cleanly (503), never accepted and lost.
    assert all(code == 503 for code in failures if isinstance(code, int)), failures
    # Every acknowledged message is stored and readable.
    stored = set()
    after = None
    while True:
        query = f"?limit=200" + (f"&after={after}" if after else "")
        page = requests.get(one.url + f"/api/message/{bob['_id']}{query}", cookies={"jwt": ann["token"]}).json()
        if not page:
            break
        stored.update(m["_id"] for m in page)
        after = page[-1]["_id"]
    assert set(acknowledged) <= stored
    # Realtime recovered: both instances listen again, and a new message is delivered live.
    for server in (one, two):
        deadline = time.monotonic() + 20
        while "Listening for cluster events again" not in server.output():
            assert time.monotonic() < deadline, server.output()[-2000:]
            time.sleep(0.05)
    # Ann's socket is closed if it missed a message while instance one did not listen
    # (docs/realtime.md): a client reconnects then, and this one does (it has no reconnection of
    # its own). Either way, a new message reaches it live.
    deadline = time.monotonic() + 30
    while True:
        if not a.connected:
            a, a_events = connect(one, token=ann["token"])
        fresh = requests.post(two.url + "/api/message", json={"to": ann["_id"], "text": "after the restart"},
                              cookies={"jwt": bob["token"]}).json()
        try:
            a_events.wait_for("new-message", lambda p: p["_id"] == fresh["_id"], timeout=3)
            break
        except AssertionError:
            assert time.monotonic() < deadline, a_events.events[-5:]
    a.disconnect()


def wait_until(condition, timeout):
    """Polls `condition` (an HTTP answer from another instance: there is no event to wait for)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s"
        time.sleep(0.05)
    return time.monotonic()


def check(server, user):
    return requests.get(server.url + "/api/auth/check", cookies={"jwt": user["token"]}).status_code


def test_logout_everywhere_and_deletion_reach_every_instance(cluster):
    one, two = cluster
    ann, bob, cat = one.signup(name="Ann"), one.signup(name="Bob"), one.signup(name="Cat")
    # Each token is in both instances' session caches.
    for server in (one, two):
        for user in (ann, bob, cat):
            assert check(server, user) == 200
    a, a_events = connect(two, token=ann["token"])
    b, b_events = connect(two, token=bob["token"])

    # Logout on one instance: the other refuses the token within the documented bound (2 s).
    started = time.monotonic()
    assert requests.post(one.url + "/api/auth/logout", cookies={"jwt": ann["token"]}).status_code == 200
    assert wait_until(lambda: check(two, ann) == 401, timeout=3) - started < 2.5
    a_events.wait_for("disconnect")

    # Log out everywhere, from one instance: every token of Bob's, everywhere.
    started = time.monotonic()
    assert requests.post(one.url + "/api/auth/logout-all", cookies={"jwt": bob["token"]}).status_code == 200
    assert wait_until(lambda: check(two, bob) == 401, timeout=3) - started < 2.5
    b_events.wait_for("disconnect")

    # Deleting the account, likewise.
    reply = requests.delete(one.url + "/api/auth/account", json={"password": cat["password"]},
                            cookies={"jwt": cat["token"]})
    assert reply.status_code == 200, reply.text
    assert wait_until(lambda: check(two, cat) == 401, timeout=3) - started < 5
    assert requests.post(two.url + "/api/auth/login",
                         json={"email": cat["email"], "password": cat["password"]}).status_code == 400
