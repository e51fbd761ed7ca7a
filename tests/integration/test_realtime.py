"""Realtime chat over Socket.IO against a running Parley (SQLite; the cluster tests use PostgreSQL)."""
import time

import jwt
import pytest
import requests
import socketio

from conftest import TEST_SECRET
from realtime_support import Recorder, connect


@pytest.fixture
def server(parley):
    return parley(env={"PRESENCE_GRACE_MS": "800", "SOCKET_EVENT_RATE": "50", "SOCKET_EVENT_BURST": "50"})


def refused(server, **kwargs):
    sio = socketio.Client(reconnection=False)
    recorder = Recorder()
    sio.on("connect_error", recorder.handler("connect_error"))
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.url, wait_timeout=5, **kwargs)
    return recorder


def test_connections_need_a_valid_token(server):
    ann = server.signup(name="Ann")
    for kwargs in [
        {"transports": ["websocket"]},
        {"transports": ["polling"], "auth": {"token": "not-a-token"}},
        {"transports": ["websocket"], "headers": {"Cookie": "jwt=garbage"}},
        # A user id in the query string is never trusted.
        {"transports": ["websocket"], "auth": {"userId": ann["_id"]}},
    ]:
        recorder = refused(server, **kwargs)
        assert recorder.of("connect_error") == [{"message": "unauthorized"}], kwargs
    other = refused(server, transports=["polling"])
    assert other.of("connect_error") == [{"message": "unauthorized"}]
    # Query strings with a user id do not help either.
    sio = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.url + f"?userId={ann['_id']}", transports=["websocket"], wait_timeout=5)


def test_cookie_and_auth_token_both_work(server):
    ann = server.signup(name="Ann")
    for client_args in [{"token": ann["token"]}, {"cookie": ann["token"]}]:
        for transports in [("websocket",), ("polling",)]:
            sio, recorder = connect(server, transports=transports, **client_args)
            assert recorder.wait_for("online-users") == [ann["_id"]]
            sio.disconnect()


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]])
def test_foreign_origins_cannot_open_sockets(server, transports):
    ann = server.signup(name="Ann")
    sio = socketio.Client(reconnection=False, websocket_extra_options={"suppress_origin": True})
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.url, transports=transports, headers={"Origin": "http://evil.example", "Cookie": f"jwt={ann['token']}"},
                    wait_timeout=5)
    reply = requests.get(server.url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": "http://evil.example"})
    assert reply.status_code == 403
    assert reply.json() == {"code": 4, "message": "Origin not allowed"}
    # The configured origin is fine.
    sio, recorder = connect(server, token=ann["token"], transports=transports, headers={"Origin": "http://allowed.example"})
    recorder.wait_for("online-users")
    sio.disconnect()


def test_presence_counts_devices_and_waits_for_the_grace_delay(server):
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    a, a_events = connect(server, token=ann["token"])
    assert a_events.wait_for("online-users") == [ann["_id"]]
    b1, b1_events = connect(server, token=bob["token"])
    assert sorted(b1_events.wait_for("online-users")) == sorted([ann["_id"], bob["_id"]])
    a_events.wait_for("user-online", lambda p: p == {"userId": bob["_id"]})
    # A second device of Bob: no new user-online.
    b2, _ = connect(server, token=bob["token"], transports=("polling",))
    b1.disconnect()
    # Bob is still online through b2; the contact list says so too.
    contacts = requests.get(server.url + "/api/message/users", cookies={"jwt": ann["token"]}).json()
    assert {c["_id"]: c["online"] for c in contacts}[bob["_id"]] is True
    # A reload: b2 leaves and comes back within the grace delay: no flicker.
    b2.disconnect()
    b3, _ = connect(server, token=bob["token"])
    time.sleep(1.5)  # longer than the grace delay (800 ms): the point is what does NOT happen
    assert a_events.of("user-offline") == []
    assert a_events.of("user-online").count({"userId": bob["_id"]}) == 1
    b3.disconnect()
    a_events.wait_for("user-offline", lambda p: p == {"userId": bob["_id"]}, timeout=5)
    contacts = requests.get(server.url + "/api/message/users", cookies={"jwt": ann["token"]}).json()
    assert {c["_id"]: c["online"] for c in contacts}[bob["_id"]] is False
    a.disconnect()


def test_new_message_reaches_every_device_but_the_sending_socket(server):
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    a1, a1_events = connect(server, token=ann["token"])
    a2, a2_events = connect(server, token=ann["token"], transports=("polling",))
    b1, b1_events = connect(server, token=bob["token"])
    b2, b2_events = connect(server, token=bob["token"])
    # Through the socket: an ack for the sender, new-message for everyone else involved.
    ack = b1.call("send-message", {"to": ann["_id"], "text": "hi Ann"})
    assert ack["ok"] is True
    message = ack["message"]
    assert message["text"] == "hi Ann" and message["senderId"] == bob["_id"] and message["receiverId"] == ann["_id"]
    for events in (a1_events, a2_events, b2_events):
        assert events.wait_for("new-message", lambda p: p["_id"] == message["_id"]) == message
    # Through REST: every device of both users hears it.
    rest = requests.post(server.url + "/api/message", json={"to": bob["_id"], "text": "hi Bob"},
                         cookies={"jwt": ann["token"]}).json()
    for events in (a1_events, a2_events, b1_events, b2_events):
        assert events.wait_for("new-message", lambda p: p["_id"] == rest["_id"])["text"] == "hi Bob"
    # The sending socket did not get its own message as an event.
    assert [m for m in b1_events.of("new-message") if m["_id"] == message["_id"]] == []
    for client in (a1, a2, b1, b2):
        client.disconnect()


def test_send_message_applies_the_rest_rules(server):
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    a, _ = connect(server, token=ann["token"])
    cases = [
        ({"text": "no receiver"}, "missing_to"),
        ({"to": "nope", "text": "x"}, "invalid_id"),
        ({"to": "0" * 24, "text": "x"}, "user_not_found"),
        ({"to": bob["_id"]}, "empty_message"),
        ({"to": bob["_id"], "text": "x" * 5001}, "invalid_text"),
        ({"to": bob["_id"], "text": 7}, "invalid_text"),
        ({"to": {"$ne": None}, "text": "x"}, "invalid_to"),
        ({"to": bob["_id"], "image": "data:image/png;base64,AAAA"}, "unsupported_image_type"),
        ("not an object", "invalid_body"),
    ]
    for payload, code in cases:
        ack = a.call("send-message", payload)
        assert ack["ok"] is False, payload
        assert ack["error"]["code"] == code, (payload, ack)
        assert isinstance(ack["error"]["message"], str)
    a.disconnect()


def test_read_receipts_edits_and_deletions_reach_both_users(server):
    ann, bob, cat = server.signup(name="Ann"), server.signup(name="Bob"), server.signup(name="Cat")
    a, a_events = connect(server, token=ann["token"])
    b1, b1_events = connect(server, token=bob["token"])
    b2, b2_events = connect(server, token=bob["token"], transports=("polling",))
    c, c_events = connect(server, token=cat["token"])
    sent = a.call("send-message", {"to": bob["_id"], "text": "helo"})["message"]
    assert sent["readAt"] is None
    b1_events.wait_for("new-message", lambda p: p["_id"] == sent["_id"])

    ack = b1.call("mark-read", {"with": ann["_id"], "upTo": sent["_id"]})
    assert ack["ok"] is True and ack["marked"] == 1 and ack["with"] == ann["_id"] and ack["upTo"] == sent["_id"]
    receipt = {"by": bob["_id"], "with": ann["_id"], "upTo": sent["_id"], "readAt": ack["readAt"]}
    # The sender's devices and the reader's other devices hear it.
    assert a_events.wait_for("messages-read") == receipt
    assert b2_events.wait_for("messages-read") == receipt
    assert b1.call("mark-read", {"with": ann["_id"], "upTo": sent["_id"]})["marked"] == 0
    for payload, code in [({"with": ann["_id"]}, "missing_upTo"), ({"with": "x", "upTo": sent["_id"]}, "invalid_id"),
                          ({"with": ann["_id"], "upTo": "0" * 24}, "message_not_found"), ("nope", "invalid_body")]:
        reply = b1.call("mark-read", payload)
        assert reply["ok"] is False and reply["error"]["code"] == code, (payload, reply)
    # Cat is not in this conversation: she cannot mark it, nor hear about it.
    assert c.call("mark-read", {"with": ann["_id"], "upTo": sent["_id"]})["error"]["code"] == "message_not_found"

    edited = requests.patch(server.url + f"/api/message/{sent['_id']}", json={"text": "hello"},
                            cookies={"jwt": ann["token"]})
    assert edited.status_code == 200
    for events in (a_events, b1_events, b2_events):
        update = events.wait_for("message-updated")
        assert update["_id"] == sent["_id"] and update["text"] == "hello" and update["editedAt"]
        assert update["readAt"] == ack["readAt"]
    deleted = requests.delete(server.url + f"/api/message/{sent['_id']}", cookies={"jwt": ann["token"]})
    assert deleted.status_code == 200
    for events in (a_events, b1_events, b2_events):
        tombstone = events.wait_for("message-deleted")
        assert tombstone["_id"] == sent["_id"] and "text" not in tombstone and tombstone["deletedAt"]
    requests.post(server.url + "/api/message", json={"to": cat["_id"], "text": "marker"}, cookies={"jwt": ann["token"]})
    c_events.wait_for("new-message")
    assert c_events.of("messages-read") == [] and c_events.of("message-updated") == []
    assert c_events.of("message-deleted") == []
    for client in (a, b1, b2, c):
        client.disconnect()


def test_typing_is_relayed_to_the_receiver_only(server):
    ann, bob, cat = server.signup(name="Ann"), server.signup(name="Bob"), server.signup(name="Cat")
    a, _ = connect(server, token=ann["token"])
    b, b_events = connect(server, token=bob["token"])
    c, c_events = connect(server, token=cat["token"])
    assert a.call("typing", {"to": bob["_id"]}) == {"ok": True}
    assert b_events.wait_for("typing") == {"from": ann["_id"]}
    a.emit("stop-typing", {"to": bob["_id"]})
    assert b_events.wait_for("stop-typing") == {"from": ann["_id"]}
    assert a.call("typing", {"to": "nope"})["error"]["code"] == "invalid_id"
    # Cat heard nothing (a message to Cat afterwards proves her events are up to date).
    requests.post(server.url + "/api/message", json={"to": cat["_id"], "text": "marker"}, cookies={"jwt": ann["token"]})
    c_events.wait_for("new-message")
    assert c_events.of("typing") == [] and c_events.of("stop-typing") == []
    for client in (a, b, c):
        client.disconnect()


def test_messages_arrive_in_the_order_they_are_stored(server):
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    a, a_events = connect(server, token=ann["token"])
    b, _ = connect(server, token=bob["token"])
    for index in range(40):
        b.emit("send-message", {"to": ann["_id"], "text": f"m{index}"})
    a_events.wait_for("new-message", lambda p: p["text"] == "m39")
    heard = [m["_id"] for m in a_events.of("new-message")]
    stored = [m["_id"] for m in requests.get(server.url + f"/api/message/{bob['_id']}?limit=200",
                                             cookies={"jwt": ann["token"]}).json()]
    assert heard == stored
    assert [m["text"] for m in a_events.of("new-message")] == [f"m{i}" for i in range(40)]
    a.disconnect()
    b.disconnect()


def test_a_flooding_socket_gets_errors_then_is_disconnected(parley):
    server = parley(env={"SOCKET_EVENT_RATE": "2", "SOCKET_EVENT_BURST": "5"})
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    a, a_events = connect(server, token=ann["token"])
    acks = Recorder()
    for index in range(8):
        a.emit("typing", {"to": bob["_id"]}, callback=acks.handler("ack"))
    acks.wait_for("ack", lambda p: p.get("ok") is False)
    limited = [p for p in acks.of("ack") if p.get("ok") is False]
    assert all(p["error"]["code"] == "rate_limited" for p in limited)
    for index in range(30):
        if not a.connected:
            break
        a.emit("typing", {"to": bob["_id"]})
    a_events.wait_for("disconnect")
    a.disconnect()


def test_a_socket_ends_when_its_token_expires(server):
    ann = server.signup(name="Ann")
    short = jwt.encode({"userId": ann["_id"], "iat": int(time.time()), "exp": int(time.time()) + 2}, TEST_SECRET,
                       algorithm="HS256")
    a, events = connect(server, token=short)
    events.wait_for("online-users")
    events.wait_for("disconnect", timeout=6)
    assert not a.connected


def test_logout_ends_the_sockets_of_that_token(server):
    ann = server.signup(name="Ann")
    # Tokens carry only userId, iat and exp (the Node app's claims): a login within the same second
    # as the sign-up gets the very same token, so log in until it is a different session.
    other_token = ann["token"]
    deadline = time.monotonic() + 3
    while other_token == ann["token"]:
        assert time.monotonic() < deadline
        other_session = requests.post(server.url + "/api/auth/login",
                                      json={"email": ann["email"], "password": ann["password"]})
        assert other_session.status_code == 200, other_session.text
        other_token = other_session.cookies["jwt"]
        if other_token == ann["token"]:
            time.sleep(0.25)  # waiting for the clock's next second, not for an event
    a, a_events = connect(server, token=ann["token"])
    keep, keep_events = connect(server, token=other_token)
    reply = requests.post(server.url + "/api/auth/logout", cookies={"jwt": ann["token"]})
    assert reply.status_code == 200
    a_events.wait_for("disconnect")
    # The other session of the same user is unaffected.
    assert keep.connected
    assert keep.call("typing", {"to": ann["_id"]}) == {"ok": True}
    keep.disconnect()
