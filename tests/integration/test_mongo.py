"""The MongoDB store against a database the Node app wrote (MONGODB_URI; skipped without it).

pymongo, a client nobody here wrote, inserts documents in the exact shape of the Node app's
Mongoose models (bcryptjs `$2a$10$` hashes, `__v`, no `avatar` on an old user, a field Parley does
not know); a real `parley serve` must log those users in, list them and their conversation, and
write documents the Node app can read.
"""
import datetime
import os
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import bcrypt
import pytest
import requests

MONGODB_URI = os.environ.get("MONGODB_URI", "")

pytestmark = pytest.mark.skipif(not MONGODB_URI, reason="MONGODB_URI is not set: MongoDB store tests skipped")


@pytest.fixture
def node_database():
    from bson import ObjectId
    from pymongo import MongoClient

    name = "parley_node_" + uuid.uuid4().hex[:8]
    parts = urlsplit(MONGODB_URI)
    uri = urlunsplit(parts._replace(path="/" + name))
    client = MongoClient(uri, serverSelectionTimeoutMS=5000)
    db = client[name]
    now = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
    # bcryptjs writes $2a$ hashes; so does the bcrypt package when asked.
    hashed = bcrypt.hashpw(b"node-password", bcrypt.gensalt(10, prefix=b"2a")).decode()
    assert hashed.startswith("$2a$10$")
    ann = {"_id": ObjectId(), "name": "Ann", "email": "ann@example.com", "password": hashed,
           "avatar": "https://res.cloudinary.com/demo/image/upload/ann.png",
           "createdAt": now, "updatedAt": now, "__v": 0}
    # An older document: no avatar, and a field Parley does not know.
    bob = {"_id": ObjectId(), "name": "Bob", "email": "bob@example.com", "password": hashed,
           "createdAt": now, "updatedAt": now, "__v": 0, "legacyFlag": True}
    db.users.insert_many([ann, bob])
    messages = [
        {"_id": ObjectId(), "senderId": ann["_id"], "receiverId": bob["_id"], "text": "hello from node",
         "createdAt": now, "updatedAt": now, "__v": 0},
        {"_id": ObjectId(), "senderId": bob["_id"], "receiverId": ann["_id"],
         "image": "https://res.cloudinary.com/demo/image/upload/cat.png",
         "createdAt": now + datetime.timedelta(seconds=1), "updatedAt": now + datetime.timedelta(seconds=1), "__v": 0},
    ]
    db.messages.insert_many(messages)
    yield {"uri": uri, "db": db, "ann": ann, "bob": bob, "messages": messages}
    client.drop_database(name)
    client.close()


def test_node_app_users_log_in_and_see_their_conversation(parley, node_database):
    server = parley(env={"MONGODB_URI": node_database["uri"]})
    ann, bob = node_database["ann"], node_database["bob"]
    http = requests.Session()
    reply = http.post(server.url + "/api/auth/login", json={"email": "ann@example.com", "password": "node-password"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["_id"] == str(ann["_id"])
    assert reply.json()["avatar"] == ann["avatar"]
    assert reply.json()["createdAt"] == "2024-01-02T03:04:05.678Z"
    assert "password" not in reply.json()

    wrong = requests.post(server.url + "/api/auth/login", json={"email": "ann@example.com", "password": "nope"})
    assert wrong.status_code in (400, 401)

    # The startup log says whether instances can share events (a replica set or shards) or not.
    handshake = node_database["db"].client.admin.command("isMaster")
    if handshake.get("setName") or handshake.get("msg") == "isdbgrid":
        assert "instances share realtime events" in server.output()
    else:
        assert "single instance" in server.output()

    contacts = http.get(server.url + "/api/message/users").json()
    assert [c["_id"] for c in contacts] == [str(bob["_id"])]
    assert contacts[0]["avatar"] == "", "a user without the field has no avatar"
    assert contacts[0]["lastMessage"]["hasImage"] is True
    assert contacts[0]["unreadCount"] == 1

    page = http.get(server.url + f"/api/message/{bob['_id']}").json()
    assert [m["_id"] for m in page] == [str(m["_id"]) for m in node_database["messages"]]
    assert page[0]["text"] == "hello from node" and "image" not in page[0]
    assert page[1]["image"].endswith("cat.png") and "text" not in page[1]


def test_documents_parley_writes_have_the_node_apps_shape(parley, node_database):
    from bson import ObjectId

    server = parley(env={"MONGODB_URI": node_database["uri"]})
    bob = node_database["bob"]
    http = requests.Session()
    assert http.post(server.url + "/api/auth/login",
                     json={"email": "ann@example.com", "password": "node-password"}).status_code == 200
    sent = http.post(server.url + "/api/message", json={"to": str(bob["_id"]), "text": "hi from parley"})
    assert sent.status_code == 201, sent.text
    stored = node_database["db"].messages.find_one({"_id": ObjectId(sent.json()["_id"])})
    assert isinstance(stored["senderId"], ObjectId) and isinstance(stored["receiverId"], ObjectId)
    assert isinstance(stored["createdAt"], datetime.datetime)
    assert stored["text"] == "hi from parley" and "image" not in stored
    assert stored["__v"] == 0

    new = server.signup(name="Cleo", email="  Cleo@Example.com ")
    user = node_database["db"].users.find_one({"_id": ObjectId(new["_id"])})
    assert user["email"] == "cleo@example.com", "emails are stored normalised"
    assert user["password"].startswith("$2b$") or user["password"].startswith("$2a$")
    assert user["__v"] == 0 and isinstance(user["updatedAt"], datetime.datetime)
    assert set(user) >= {"_id", "name", "email", "password", "avatar", "createdAt", "updatedAt", "__v"}

    # The unique email index: the same 400 as the other stores.
    taken = requests.post(server.url + "/api/auth/signup",
                          json={"name": "Ann again", "email": "ANN@example.com", "password": "secret1"})
    assert taken.status_code == 400, taken.text
    indexes = node_database["db"].users.index_information()
    assert indexes["email_1"]["unique"] is True


def test_a_lost_server_answers_503_and_parley_recovers(parley):
    """The database goes away under a running server, then comes back."""
    from tcp_proxy import TcpProxy, mongodb_target, proxied_mongodb_uri

    proxy = TcpProxy(*mongodb_target(MONGODB_URI))
    database = "parley_outage_" + uuid.uuid4().hex[:8]
    uri = proxied_mongodb_uri(MONGODB_URI, proxy.port, database, serverSelectionTimeoutMS=1000)
    server = parley(env={"MONGODB_URI": uri})
    ann = server.signup(name="Ann")
    login = {"email": ann["email"], "password": ann["password"]}

    proxy.cut()
    started = time.monotonic()
    down = requests.post(server.url + "/api/auth/login", json=login)
    assert down.status_code == 503, down.text
    assert down.json()["message"]
    assert time.monotonic() - started < 8, "answers within the server selection timeout, not a hang"
    assert requests.get(server.url + "/readyz").status_code == 503

    proxy.restore()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        back = requests.post(server.url + "/api/auth/login", json=login)
        if back.status_code == 200:
            break
        assert back.status_code == 503, back.text
        time.sleep(0.2)
    else:
        raise AssertionError("parley did not recover after the database came back")
    assert requests.get(server.url + "/readyz").status_code == 200


def test_an_index_the_node_app_made_differently_does_not_stop_parley(parley, node_database):
    # An old deployment made `email_1` without `unique`: Parley says so and serves anyway.
    node_database["db"].users.drop_indexes()
    node_database["db"].users.create_index("email", name="email_1")
    server = parley(env={"MONGODB_URI": node_database["uri"]})
    reply = requests.post(server.url + "/api/auth/login", json={"email": "ann@example.com", "password": "node-password"})
    assert reply.status_code == 200, reply.text
    assert "users.email_1" in server.output() and "could not be created" in server.output()


def test_a_bad_uri_stops_startup_naming_it(tmp_path):
    from conftest import ParleyProcess

    server = ParleyProcess(tmp_path, env={"MONGODB_URI": "mongodb://host:notaport/db"})
    with pytest.raises(AssertionError) as failure:
        server.start(timeout=30)
    assert "MONGODB_URI" in str(failure.value)
