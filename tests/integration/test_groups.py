"""Group conversations as a user sees them: REST under /api/groups, the combined sidebar, and the
Socket.IO events, on one instance and across two sharing PostgreSQL (docs/groups.md)."""
import time

import pytest
import requests

from conftest import ADMIN_URL, MONGODB_URI, fresh_database, fresh_mongo_database
from realtime_support import EVENTS, connect
from test_recovery import RawClient, offset_of

needs_postgres = pytest.mark.skipif(not ADMIN_URL, reason="PARLEY_TEST_DATABASE_URL is not set (scripts/test sets it)")

GROUP_EVENTS = ["new-group-message", "group-message-updated", "group-message-deleted", "group-read", "group-changed"]
EVENTS.extend(name for name in GROUP_EVENTS if name not in EVENTS)



def api(server, user, method, path, **kwargs):
    return requests.request(method, server.url + path, cookies={"jwt": user["token"]}, timeout=10, **kwargs)


def create_group(server, owner, members, name="Team"):
    reply = api(server, owner, "POST", "/api/groups", json={"name": name, "members": [m["_id"] for m in members]})
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_a_group_from_creation_to_closing(parley, store_env):
    server = parley(env=store_env)
    ann, bob, cat, dan = (server.signup(name=n) for n in ("Ann", "Bob", "Cat", "Dan"))
    group = create_group(server, ann, [bob, cat])
    assert group["name"] == "Team" and group["role"] == "owner"
    assert [(m["_id"], m["role"]) for m in group["members"]] == [(ann["_id"], "owner"), (bob["_id"], "member"),
                                                                 (cat["_id"], "member")]
    assert all("email" not in m for m in group["members"])
    gid = group["_id"]
    # To anyone else it does not exist.
    for method, path in [("GET", f"/api/groups/{gid}"), ("GET", f"/api/groups/{gid}/messages"),
                         ("POST", f"/api/groups/{gid}/messages")]:
        reply = api(server, dan, method, path, json={"text": "hi"})
        assert reply.status_code == 404 and reply.json()["code"] == "group_not_found", (method, path, reply.text)
    assert [g["_id"] for g in api(server, bob, "GET", "/api/groups").json()] == [gid]
    assert api(server, dan, "GET", "/api/groups").json() == []

    b, b_events = connect(server, token=bob["token"])
    c, c_events = connect(server, token=cat["token"])
    # REST sends, every member's socket hears it.
    sent = api(server, ann, "POST", f"/api/groups/{gid}/messages", json={"text": "hello team"})
    assert sent.status_code == 201, sent.text
    message = sent.json()
    assert message["groupId"] == gid and message["senderId"] == ann["_id"] and "receiverId" not in message
    assert b_events.wait_for("new-group-message", lambda m: m["_id"] == message["_id"])["text"] == "hello team"
    c_events.wait_for("new-group-message", lambda m: m["_id"] == message["_id"])
    # A socket sends with an acknowledgement; the others hear it, the sending socket does not.
    ack = b.call("send-group-message", {"groupId": gid, "text": "from bob"})
    assert ack["ok"] is True and ack["message"]["groupId"] == gid
    c_events.wait_for("new-group-message", lambda m: m["_id"] == ack["message"]["_id"])
    assert not [m for m in b_events.of("new-group-message") if m["_id"] == ack["message"]["_id"]]
    # Typing goes to the other members, with the group.
    b.emit("typing", {"group": gid})
    assert c_events.wait_for("typing", lambda p: p.get("group") == gid) == {"from": bob["_id"], "group": gid}
    # History pages like a conversation.
    history = api(server, cat, "GET", f"/api/groups/{gid}/messages").json()
    assert [m["_id"] for m in history] == [message["_id"], ack["message"]["_id"]]
    assert [m["_id"] for m in api(server, cat, "GET", f"/api/groups/{gid}/messages",
                                  params={"after": message["_id"]}).json()] == [ack["message"]["_id"]]
    # Edit and delete own messages only.
    assert api(server, bob, "PATCH", f"/api/groups/{gid}/messages/{message['_id']}", json={"text": "x"}).status_code == 403
    edited = api(server, ann, "PATCH", f"/api/groups/{gid}/messages/{message['_id']}", json={"text": "hello all"})
    assert edited.status_code == 200 and edited.json()["text"] == "hello all"
    assert c_events.wait_for("group-message-updated")["text"] == "hello all"
    gone = api(server, bob, "DELETE", f"/api/groups/{gid}/messages/{ack['message']['_id']}")
    assert gone.status_code == 200 and "text" not in gone.json() and gone.json()["deletedAt"]
    c_events.wait_for("group-message-deleted", lambda m: m["_id"] == ack["message"]["_id"])
    # Each member's own read position.
    read = c.call("mark-group-read", {"groupId": gid, "upTo": message["_id"]})
    assert read["ok"] is True and read["moved"] is True
    assert b_events.wait_for("group-read")["by"] == cat["_id"]
    members = {m["_id"]: m for m in api(server, ann, "GET", f"/api/groups/{gid}").json()["members"]}
    assert members[cat["_id"]]["lastReadId"] == message["_id"] and members[bob["_id"]]["lastReadId"] is None

    # Roles: members cannot manage; the owner makes an admin, who adds and removes.
    assert api(server, bob, "POST", f"/api/groups/{gid}/members", json={"members": [dan["_id"]]}).status_code == 403
    assert api(server, ann, "PUT", f"/api/groups/{gid}/members/{bob['_id']}/role", json={"role": "admin"}).ok
    added = api(server, bob, "POST", f"/api/groups/{gid}/members", json={"members": [dan["_id"], cat["_id"]]})
    assert added.status_code == 200 and len(added.json()["members"]) == 4
    assert c_events.wait_for("group-changed", lambda n: n["change"] == "members-added")["added"][0]["userId"] == dan["_id"]
    removed = api(server, bob, "DELETE", f"/api/groups/{gid}/members/{cat['_id']}")
    assert removed.status_code == 200 and cat["_id"] not in [m["_id"] for m in removed.json()["members"]]
    assert c_events.wait_for("group-changed", lambda n: n["change"] == "member-removed")["removed"] == [cat["_id"]]
    # Removed: no more events, reads fail.
    api(server, ann, "POST", f"/api/groups/{gid}/messages", json={"text": "without cat"})
    b_events.wait_for("new-group-message", lambda m: m.get("text") == "without cat")
    assert not [m for m in c_events.of("new-group-message") if m.get("text") == "without cat"]
    assert api(server, cat, "GET", f"/api/groups/{gid}/messages").status_code == 404
    # The owner leaves: the longest-standing admin takes over; the last one out closes it.
    assert api(server, ann, "POST", f"/api/groups/{gid}/leave").status_code == 204
    roles = {m["_id"]: m["role"] for m in api(server, bob, "GET", f"/api/groups/{gid}").json()["members"]}
    assert roles == {bob["_id"]: "owner", dan["_id"]: "member"}
    assert api(server, dan, "DELETE", f"/api/groups/{gid}/members/{dan['_id']}").status_code == 204
    assert api(server, bob, "POST", f"/api/groups/{gid}/leave").status_code == 204
    assert api(server, bob, "GET", f"/api/groups/{gid}").status_code == 404
    b.disconnect()
    c.disconnect()


def test_one_sidebar_for_direct_conversations_and_groups(parley, store_env):
    server = parley(env=store_env)
    ann, bob, cat = (server.signup(name=n) for n in ("Ann", "Bob", "Cat"))
    direct = api(server, bob, "POST", "/api/message", json={"to": ann["_id"], "text": "direct"}).json()
    group = create_group(server, cat, [ann])
    api(server, cat, "POST", f"/api/groups/{group['_id']}/messages", json={"text": "one"})
    latest = api(server, cat, "POST", f"/api/groups/{group['_id']}/messages", json={"text": "two"}).json()
    empty = create_group(server, bob, [ann], name="Quiet")
    page = api(server, ann, "GET", "/api/conversations").json()
    # Most recently active first: the quiet group was created last.
    assert [(e["type"], e["_id"]) for e in page] == [("group", empty["_id"]), ("group", group["_id"]),
                                                     ("direct", bob["_id"])]
    assert page[1]["lastMessage"]["_id"] == latest["_id"] and page[1]["unreadCount"] == 2
    assert page[2]["lastMessage"]["_id"] == direct["_id"] and page[2]["unreadCount"] == 1
    assert page[0]["lastMessage"] is None and "online" not in page[0] and page[2]["online"] is False
    # Cursor-paged.
    first = api(server, ann, "GET", "/api/conversations", params={"limit": 2})
    assert [e["_id"] for e in first.json()] == [empty["_id"], group["_id"]]
    rest = api(server, ann, "GET", "/api/conversations", params={"limit": 2, "cursor": first.headers["X-Next-Cursor"]})
    assert [e["_id"] for e in rest.json()] == [bob["_id"]] and "X-Next-Cursor" not in rest.headers
    # Reading moves the count; the one-to-one sidebar is as it was.
    api(server, ann, "POST", f"/api/groups/{group['_id']}/read", json={"upTo": latest["_id"]})
    assert api(server, ann, "GET", "/api/conversations").json()[1]["unreadCount"] == 0
    contacts = api(server, ann, "GET", "/api/message/users").json()
    assert {c["_id"] for c in contacts} == {bob["_id"], cat["_id"]}
    for bad in [{"limit": "0"}, {"limit": "x"}, {"cursor": "nope"}, {"cursor": "1_zz"}]:
        reply = api(server, ann, "GET", "/api/conversations", params=bad)
        assert reply.status_code == 400, (bad, reply.text)


def test_bad_requests_get_clear_answers(parley):
    server = parley(env={"GROUP_MAX_MEMBERS": "3"})
    ann, bob, cat, dan = (server.signup(name=n) for n in ("Ann", "Bob", "Cat", "Dan"))
    ghost = "6b146c10b6ec89728cb95147"
    cases = [
        ({"name": "T", "members": "not-a-list"}, 400, "invalid_members"),
        ({"name": "T", "members": [1, 2]}, 400, "invalid_members"),
        ({"name": "T", "members": ["a,b"]}, 400, "invalid_members"),
        ({"name": "T", "members": [""]}, 400, "invalid_members"),
        ({"name": "T", "members": ""}, 400, "invalid_members"),
        ({"name": "", "members": []}, 400, "invalid_name"),
        ({"members": []}, 400, "missing_name"),
        ({"name": "x" * 101}, 400, "invalid_name"),
        ({"name": "T", "members": [ghost]}, 400, "unknown_users"),
        ({"name": "T", "members": [bob["_id"], cat["_id"], dan["_id"]]}, 409, "too_many_members"),
        ({"name": "T", "avatar": "data:image/png;base64,AAAA"}, 415, "unsupported_image_type"),
    ]
    for body, status, code in cases:
        reply = api(server, ann, "POST", "/api/groups", json=body)
        assert reply.status_code == status and reply.json()["code"] == code, (body, reply.text)
    assert ghost in api(server, ann, "POST", "/api/groups", json={"name": "T", "members": [ghost]}).json()["message"]
    # A list longer than any group is refused at once, not compared pairwise.
    many = [f"{n:024x}" for n in range(100_001)]
    started = time.monotonic()
    reply = api(server, ann, "POST", "/api/groups", json={"name": "T", "members": many})
    assert reply.status_code == 400 and reply.json()["code"] == "invalid_members", reply.text[:200]
    assert time.monotonic() - started < 5
    group = create_group(server, ann, [bob])
    gid = group["_id"]
    assert api(server, ann, "GET", "/api/groups/nope").status_code == 400
    assert api(server, ann, "GET", f"/api/groups/{ghost}").status_code == 404
    assert api(server, ann, "POST", f"/api/groups/{gid}/messages", json={}).json()["code"] == "empty_message"
    assert api(server, ann, "PUT", f"/api/groups/{gid}/members/{bob['_id']}/role",
               json={"role": "owner"}).json()["code"] == "invalid_role"
    assert api(server, ann, "PUT", f"/api/groups/{gid}/members/{cat['_id']}/role",
               json={"role": "admin"}).status_code == 404
    assert api(server, ann, "POST", f"/api/groups/{gid}/read", json={"upTo": ghost}).status_code == 404
    assert api(server, ann, "GET", f"/api/groups/{gid}/messages", params={"before": ghost}).status_code == 400
    assert api(server, ann, "GET", f"/api/groups/{gid}/messages", params={"limit": "500"}).status_code == 400
    # Adding twice is harmless.
    twice = api(server, ann, "POST", f"/api/groups/{gid}/members", json={"members": [bob["_id"]]})
    assert twice.status_code == 200 and len(twice.json()["members"]) == 2
    # Socket events answer the same way.
    a, _ = connect(server, token=ann["token"])
    assert a.call("send-group-message", {"groupId": ghost, "text": "x"})["error"]["code"] == "group_not_found"
    assert a.call("send-group-message", "nope")["error"]["code"] == "invalid_body"
    assert a.call("mark-group-read", {"groupId": gid, "upTo": 7})["error"]["code"] == "invalid_upTo"
    assert a.call("typing", {"group": ghost})["error"]["code"] == "group_not_found"
    a.disconnect()


@needs_postgres
def test_membership_changes_reach_every_instance_at_once(parley):
    env = {"DATABASE_URL": fresh_database()}
    one, two = parley(env=env), parley(env=env)
    ann, bob, cat = one.signup(name="Ann"), one.signup(name="Bob"), one.signup(name="Cat")
    group = create_group(one, ann, [bob])
    gid = group["_id"]
    c, c_events = connect(two, token=cat["token"])
    b, b_events = connect(two, token=bob["token"], transports=("polling",))
    # Added on one, Cat's socket on two hears the group's next message at once.
    assert api(one, ann, "POST", f"/api/groups/{gid}/members", json={"members": [cat["_id"]]}).ok
    sent = api(one, ann, "POST", f"/api/groups/{gid}/messages", json={"text": "welcome"}).json()
    assert c_events.wait_for("new-group-message", lambda m: m["_id"] == sent["_id"])["text"] == "welcome"
    changes = [n["change"] for n in c_events.of("group-changed")]
    assert changes == ["members-added"]
    # Removed on one: Cat's socket on two hears the removal and nothing after it.
    assert api(one, ann, "DELETE", f"/api/groups/{gid}/members/{cat['_id']}").ok
    after = api(one, ann, "POST", f"/api/groups/{gid}/messages", json={"text": "gone"}).json()
    b_events.wait_for("new-group-message", lambda m: m["_id"] == after["_id"])
    c_events.wait_for("group-changed", lambda n: n["change"] == "member-removed")
    assert [m["_id"] for m in c_events.of("new-group-message")] == [sent["_id"]]
    assert api(two, cat, "GET", f"/api/groups/{gid}/messages").status_code == 404
    b.disconnect()
    c.disconnect()


@pytest.mark.parametrize("across", [False, pytest.param(True, marks=needs_postgres)])
def test_missed_group_events_are_recovered(parley, across):
    env = {"DATABASE_URL": fresh_database()} if across else {}
    one = parley(env=env)
    other = parley(env=env) if across else one
    ann, bob = one.signup(name="Ann"), one.signup(name="Bob")
    gid = create_group(one, ann, [bob])["_id"]
    client = RawClient(one, {"token": bob["token"]})
    first = client.connected
    name, arguments = client.event()
    assert name == "online-users"
    seen = api(one, ann, "POST", f"/api/groups/{gid}/messages", json={"text": "seen"}).json()
    name, arguments = client.event()
    assert name == "new-group-message" and arguments[0]["_id"] == seen["_id"]
    offset = offset_of(arguments)
    client.cut()
    missed = [api(one, ann, "POST", f"/api/groups/{gid}/messages", json={"text": f"missed {n}"}).json()["_id"]
              for n in range(20)]
    direct = api(one, ann, "POST", "/api/message", json={"to": bob["_id"], "text": "direct"}).json()
    assert api(one, ann, "PATCH", f"/api/groups/{gid}/messages/{missed[0]}", json={"text": "edited"}).ok
    again = RawClient(other, {"token": bob["token"], "pid": first["pid"], "offset": offset})
    assert again.connected == {"sid": first["sid"], "pid": first["pid"]}
    replayed = again.events_until("online-users")
    assert [args[0]["_id"] for name, args in replayed if name == "new-group-message"] == missed
    assert [name for name, _ in replayed][-3:] == ["new-message", "group-message-updated", "online-users"]
    # And the group's events keep coming, once.
    live = api(one, ann, "POST", f"/api/groups/{gid}/messages", json={"text": "live"}).json()
    name, arguments = again.event()
    assert name == "new-group-message" and arguments[0]["_id"] == live["_id"]


def test_a_deleted_account_leaves_its_groups(parley):
    server = parley()
    ann, bob, cat = (server.signup(name=n) for n in ("Ann", "Bob", "Cat"))
    gid = create_group(server, ann, [bob, cat])["_id"]
    assert api(server, ann, "PUT", f"/api/groups/{gid}/members/{cat['_id']}/role", json={"role": "admin"}).ok
    b, b_events = connect(server, token=bob["token"])
    reply = api(server, ann, "DELETE", "/api/auth/account", json={"password": ann["password"]})
    assert reply.status_code == 200, reply.text
    notice = b_events.wait_for("group-changed", lambda n: n["change"] == "member-left")
    assert notice["removed"] == [ann["_id"]] and notice["roles"] == [{"userId": cat["_id"], "role": "owner"}]
    roles = {m["_id"]: m["role"] for m in api(server, bob, "GET", f"/api/groups/{gid}").json()["members"]}
    assert roles == {bob["_id"]: "member", cat["_id"]: "owner"}
    b.disconnect()


def test_a_member_removed_while_away_recovers_the_removal_and_nothing_after(parley, store_env):
    server = parley(env=store_env)
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    gid = create_group(server, ann, [bob])["_id"]
    client = RawClient(server, {"token": bob["token"]})
    first = client.connected
    seen = api(server, ann, "POST", f"/api/groups/{gid}/messages", json={"text": "seen"}).json()
    name, arguments = client.events_until("new-group-message")[-1]
    assert arguments[0]["_id"] == seen["_id"]
    offset = offset_of(arguments)
    client.cut()
    before = api(server, ann, "POST", f"/api/groups/{gid}/messages", json={"text": "before"}).json()
    assert api(server, ann, "DELETE", f"/api/groups/{gid}/members/{bob['_id']}").ok
    after = api(server, ann, "POST", f"/api/groups/{gid}/messages", json={"text": "after"}).json()
    again = RawClient(server, {"token": bob["token"], "pid": first["pid"], "offset": offset})
    assert again.connected == {"sid": first["sid"], "pid": first["pid"]}
    replayed = again.events_until("online-users")
    messages = [args[0]["_id"] for name, args in replayed if name == "new-group-message"]
    assert after["_id"] not in messages
    assert [args[0]["change"] for name, args in replayed if name == "group-changed"] == ["member-removed"]
    # Nothing of the group reaches the recovered socket any more.
    api(server, ann, "POST", f"/api/groups/{gid}/messages", json={"text": "later"})
    direct = api(server, ann, "POST", "/api/message", json={"to": bob["_id"], "text": "direct"}).json()
    name, arguments = again.event()
    assert name == "new-message" and arguments[0]["_id"] == direct["_id"]
    # (The message sent before the removal is not replayed either: the group is closed to Bob now,
    # over REST too.)
    assert before["_id"] not in messages


GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="


def test_group_avatars_and_image_messages(parley):
    server = parley()
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    created = api(server, ann, "POST", "/api/groups", json={"name": "Pics", "members": [bob["_id"]], "avatar": GIF})
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["avatar"].startswith("http") or group["avatar"].startswith("/uploads/")
    gid = group["_id"]
    # Members cannot change it; the owner removes it with an empty avatar.
    assert api(server, bob, "PATCH", f"/api/groups/{gid}", json={"avatar": ""}).status_code == 403
    cleared = api(server, ann, "PATCH", f"/api/groups/{gid}", json={"avatar": "", "name": "Pictures"})
    assert cleared.status_code == 200 and cleared.json()["avatar"] == "" and cleared.json()["name"] == "Pictures"
    # An image message, as JSON and as a multipart form.
    sent = api(server, bob, "POST", f"/api/groups/{gid}/messages", json={"image": GIF})
    assert sent.status_code == 201 and sent.json()["image"], sent.text
    import base64
    form = api(server, bob, "POST", f"/api/groups/{gid}/messages", data={"text": "with a file"},
               files={"image": ("dot.gif", base64.b64decode(GIF.split(",")[1]), "image/gif")})
    assert form.status_code == 201 and form.json()["image"] and form.json()["text"] == "with a file", form.text
    # A group created from a form: members separated by commas.
    cat = server.signup(name="Cat")
    made = api(server, ann, "POST", "/api/groups", data={"name": "Form", "members": f"{bob['_id']},{cat['_id']}"},
               files={"avatar": ("dot.gif", base64.b64decode(GIF.split(",")[1]), "image/gif")})
    assert made.status_code == 201, made.text
    assert len(made.json()["members"]) == 3 and made.json()["avatar"]
    # The last member out closes the group, which nobody sees again: its avatar goes with it.
    avatar = made.json()["avatar"]
    assert avatar.startswith("/uploads/"), avatar
    assert requests.get(server.url + avatar).status_code == 200
    for member in (ann, bob, cat):
        assert api(server, member, "POST", f"/api/groups/{made.json()['_id']}/leave").status_code == 204
    assert requests.get(server.url + avatar).status_code == 404


def test_a_recovered_socket_does_not_get_its_own_group_message_again(parley):
    server = parley()
    ann, bob = server.signup(name="Ann"), server.signup(name="Bob")
    gid = create_group(server, ann, [bob])["_id"]
    client = RawClient(server, {"token": bob["token"]})
    first = client.connected
    name, arguments = client.event()
    assert name == "online-users"
    offset = offset_of(arguments)
    client.ws.send('420["send-group-message",{"groupId":"%s","text":"mine"}]' % gid)
    while not client._next_socketio().startswith("30"):
        pass
    client.cut()
    theirs = api(server, ann, "POST", f"/api/groups/{gid}/messages", json={"text": "theirs"}).json()
    again = RawClient(server, {"token": bob["token"], "pid": first["pid"], "offset": offset})
    assert again.connected == {"sid": first["sid"], "pid": first["pid"]}
    replayed = again.events_until("online-users")
    assert [args[0]["text"] for name, args in replayed if name == "new-group-message"] == [theirs["text"]]
