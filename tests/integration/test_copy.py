"""`parley copy` as an operator runs it: a SQLite trial moved to PostgreSQL and back, with the
servers on both sides answering the same logins and pages."""
import os
import subprocess
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from conftest import BINARY, fresh_database


def copy(*args, cwd):
    return subprocess.run([BINARY, "copy", *args], env={"PATH": os.environ["PATH"]}, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def seed(server):
    """Two users and a conversation, through the API."""
    ann = server.signup(name="Ann", email="ann@example.com", password="ann-secret")
    bob = server.signup(name="Bob", email="bob@example.com", password="bob-secret")
    for n, text in enumerate(["hi", "tab\there", "two\nlines", "back\\slash", "ünïcödé 🎉"]):
        sender, receiver = (ann, bob) if n % 2 == 0 else (bob, ann)
        reply = requests.post(server.url + "/api/message", json={"to": receiver["_id"], "text": text},
                              cookies={"jwt": sender["token"]})
        assert reply.status_code == 201, reply.text
    return ann, bob


def conversation(server, user, password, peer):
    http = requests.Session()
    login = http.post(server.url + "/api/auth/login", json={"email": user["email"], "password": password})
    assert login.status_code == 200, login.text
    assert login.json()["_id"] == user["_id"]
    reply = http.get(server.url + f"/api/message/{peer['_id']}")
    assert reply.status_code == 200
    return reply.json()


def test_sqlite_to_postgres_and_back_keeps_logins_ids_and_pages(parley, tmp_path):
    trial = parley(data_dir=tmp_path / "trial", env={"STORE": "sqlite"})
    ann, bob = seed(trial)
    before = conversation(trial, ann, "ann-secret", bob)
    trial.stop()
    source = f"sqlite:{tmp_path / 'trial' / 'parley.sqlite'}"
    database = fresh_database()

    result = copy("--from", source, "--to", database, "--verify", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "users: 2 in the source, 0 in the target; read 2, inserted 2" in result.stdout
    assert "messages: 5 in the source, 0 in the target; read 5, inserted 5" in result.stdout
    assert "verify users: equal" in result.stdout and "verify messages: equal" in result.stdout
    assert "copying messages" in result.stderr  # progress, as plain lines: stderr is not a terminal

    production = parley(data_dir=tmp_path / "production", env={"DATABASE_URL": database})
    assert conversation(production, ann, "ann-secret", bob) == before
    assert conversation(production, bob, "bob-secret", ann) == before

    again = copy("--from", source, "--to", database, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "inserted 0" in again.stdout and "resumed after message" in again.stdout
    production.stop()

    back = copy("--from", database, "--to", f"sqlite:{tmp_path / 'back' / 'parley.sqlite'}", "--verify",
                cwd=tmp_path)
    assert back.returncode == 0, back.stdout + back.stderr
    home = parley(data_dir=tmp_path / "back", env={"STORE": "sqlite"})
    assert conversation(home, ann, "ann-secret", bob) == before


def test_a_conflict_fails_before_writing_and_skip_copies_the_rest(parley, tmp_path):
    trial = parley(data_dir=tmp_path / "trial", env={"STORE": "sqlite"})
    ann, bob = seed(trial)
    trial.stop()
    target = parley(data_dir=tmp_path / "target", env={"STORE": "sqlite"})
    squatter = target.signup(name="Not Bob", email="bob@example.com")
    target.stop()
    source = f"sqlite:{tmp_path / 'trial' / 'parley.sqlite'}"
    destination = f"sqlite:{tmp_path / 'target' / 'parley.sqlite'}"

    untouched = tmp_path / "nowhere" / "new.sqlite"
    dry_new = copy("--from", source, "--to", f"sqlite:{untouched}", "--dry-run", cwd=tmp_path)
    assert dry_new.returncode == 0, dry_new.stderr
    assert "users: 2 in the source, 0 in the target" in dry_new.stdout
    assert not untouched.parent.exists()  # a dry run creates nothing

    dry = copy("--from", source, "--to", destination, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert f"user {bob['_id']}: email bob@example.com belongs to user {squatter['_id']} in the target" in dry.stdout

    refused = copy("--from", source, "--to", destination, cwd=tmp_path)
    assert refused.returncode == 1
    assert "Nothing was written" in refused.stdout
    assert f"user {bob['_id']}" in refused.stdout

    skipped = copy("--from", source, "--to", destination, "--on-conflict", "skip", "--verify", cwd=tmp_path)
    assert skipped.returncode == 2, skipped.stdout  # copied, but the stores differ: verify says so
    assert "inserted 1" in skipped.stdout and "skipped 5" in skipped.stdout
    assert "verify users: DIFFERENT" in skipped.stdout


@pytest.mark.skipif(not os.environ.get("MONGODB_URI"), reason="MONGODB_URI is not set")
def test_node_apps_mongodb_to_postgres_and_back_to_mongodb(parley, tmp_path):
    """The move teams make: the Node app's MongoDB to PostgreSQL; and back, for a way out."""
    parts = urlsplit(os.environ["MONGODB_URI"])
    mongo = urlunsplit(parts._replace(path="/parley_copy_" + uuid.uuid4().hex[:8]))
    node = parley(data_dir=tmp_path / "node", env={"MONGODB_URI": mongo})
    ann, bob = seed(node)
    before = conversation(node, ann, "ann-secret", bob)
    node.stop()
    database = fresh_database()

    there = copy("--from", mongo, "--to", database, "--verify", cwd=tmp_path)
    assert there.returncode == 0, there.stdout + there.stderr
    assert "messages: 5 in the source, 0 in the target; read 5, inserted 5" in there.stdout
    assert "verify messages: equal" in there.stdout
    production = parley(data_dir=tmp_path / "production", env={"DATABASE_URL": database})
    assert conversation(production, bob, "bob-secret", ann) == before
    production.stop()

    back = urlunsplit(parts._replace(path="/parley_copy_back_" + uuid.uuid4().hex[:8]))
    home = copy("--from", database, "--to", back, "--verify", cwd=tmp_path)
    assert home.returncode == 0, home.stdout + home.stderr
    assert "verify users: equal" in home.stdout and "verify messages: equal" in home.stdout
    again = copy("--from", database, "--to", back, cwd=tmp_path)
    assert again.returncode == 0 and "inserted 0" in again.stdout, again.stdout + again.stderr
    restored = parley(data_dir=tmp_path / "restored", env={"MONGODB_URI": back})
    assert conversation(restored, ann, "ann-secret", bob) == before


def test_bad_locations_are_clear_errors(tmp_path):
    cases = [
        (["--from", "mysql://x", "--to", "sqlite:b.sqlite"], "--from"),
        (["--from", f"sqlite:{tmp_path / 'missing.sqlite'}", "--to", "sqlite:b.sqlite"], "no SQLite database"),
        (["--from", "sqlite:a.sqlite", "--to", "sqlite:./a.sqlite"], "same store"),
        (["--from", "sqlite:a.sqlite", "--to", "mongodb://host:notaport/chat"], "--to"),
        (["--from", "sqlite:a.sqlite", "--to", "sqlite:b.sqlite", "--batch-size", "0"], "--batch-size"),
        (["--from", "sqlite:a.sqlite", "--to", "sqlite:b.sqlite", "--on-conflict", "merge"], "on-conflict"),
    ]
    (tmp_path / "a.sqlite").write_bytes(b"")
    for args, expected in cases:
        result = copy(*args, cwd=tmp_path)
        assert result.returncode != 0, args
        assert expected in result.stderr, (args, result.stderr)
        assert "Fatal error" not in result.stderr and "crashed" not in result.stderr, result.stderr
    assert not (tmp_path / "b.sqlite").exists()


V1_SCHEMA = """
CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE,
    password TEXT NOT NULL, avatar TEXT NOT NULL DEFAULT '', avatar_media_id TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX users_name ON users (name, id);
CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    sender_id TEXT NOT NULL REFERENCES users (id), receiver_id TEXT NOT NULL REFERENCES users (id),
    user_lo TEXT NOT NULL, user_hi TEXT NOT NULL, text TEXT, image TEXT, image_media_id TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, CHECK (text IS NOT NULL OR image IS NOT NULL));
CREATE INDEX messages_conversation ON messages (user_lo, user_hi, seq);
PRAGMA user_version = 1;
"""


def test_an_older_source_is_copied_without_being_changed(tmp_path):
    import hashlib
    import sqlite3
    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(old)
    db.executescript(V1_SCHEMA)
    a, b = "6b0610d42418feb384a4dcf4", "6b0610d42418feb384a4dcf5"
    db.executemany("INSERT INTO users VALUES (?, ?, ?, 'x', '', NULL, 1700000000000, 1700000000000)",
                   [(a, "Ann", "ann@example.com"), (b, "Bob", "bob@example.com")])
    db.execute("INSERT INTO messages (id, sender_id, receiver_id, user_lo, user_hi, text, created_at, updated_at)"
               " VALUES ('6b0610d42418feb384a4dd00', ?, ?, ?, ?, 'from before read receipts', 1700000000001,"
               " 1700000000001)", (a, b, a, b))
    db.commit()
    db.close()
    before = hashlib.sha256(old.read_bytes()).hexdigest()

    result = copy("--from", f"sqlite:{old}", "--to", f"sqlite:{tmp_path / 'new.sqlite'}", "--verify", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify messages: equal" in result.stdout
    assert hashlib.sha256(old.read_bytes()).hexdigest() == before
    new = sqlite3.connect(tmp_path / "new.sqlite")
    assert new.execute("SELECT text, read_at, deleted_at FROM messages").fetchall() == [
        ("from before read receipts", None, None)]
    assert new.execute("SELECT unread_hi + unread_lo FROM conversations").fetchone() == (1,)
