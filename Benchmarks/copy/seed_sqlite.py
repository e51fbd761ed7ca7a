"""Fills a migrated Parley SQLite database with users and messages for the copy benchmark.

    python3 seed_sqlite.py PATH USERS MESSAGES [CONVERSATIONS]

Ids are ObjectId-shaped (seconds, random, counter) as Parley makes them; messages go both ways
within CONVERSATIONS random pairs of users (default 5 per user, as in a chat product where people
talk to a handful of others), in id order, with texts of chat-like lengths (some with tabs,
newlines and backslashes, which COPY must escape), an image URL on one in twenty, and all but the
newest few read.
"""
import os
import random
import sqlite3
import sys
import time


def object_ids(start_seconds):
    process = os.urandom(5).hex()
    counter = random.randrange(1 << 24)
    seconds = start_seconds
    while True:
        counter = (counter + 1) % (1 << 24)
        if counter == 0:
            seconds += 1
        yield f"{seconds:08x}{process}{counter:06x}"


def main():
    path, users, messages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    conversations = int(sys.argv[4]) if len(sys.argv) > 4 else users * 5
    random.seed(7)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    ids = object_ids(int(time.time()) - 86400 * 30)
    now = int(time.time() * 1000) - 86400 * 30 * 1000
    user_ids = []
    rows = []
    # A fixed bcrypt-shaped hash: the benchmark copies it, nobody logs in with it.
    hash_ = "$2b$04$2GPhVCBwsSHfSW9tfm0QZO2mtq6wSWvGpxsXyYFXXV/b0qsGXr/Ka"
    for n in range(users):
        uid = next(ids)
        user_ids.append(uid)
        rows.append((uid, f"User {n}", f"user{n}@example.com", hash_, "", None, now + n, now + n))
    db.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    pairs = set()
    while len(pairs) < conversations:
        a, b = random.sample(user_ids, 2)
        pairs.add((min(a, b), max(a, b)))
    pairs = list(pairs)
    words = "hello there how are you see you at the meeting tomorrow sounds good thanks".split()
    batch = []
    for n in range(messages):
        lo, hi = random.choice(pairs)
        sender, receiver = (lo, hi) if random.random() < 0.5 else (hi, lo)
        text = " ".join(random.choices(words, k=random.randint(2, 20)))
        if n % 50 == 0:
            text += "\tand\\more\nlines"
        image = f"https://res.cloudinary.com/demo/image/upload/message-{n:x}.jpg" if n % 20 == 0 else None
        at = now + 1000 + n * 7
        read = at + 5000 if n < messages - 2 * conversations else None
        batch.append((next(ids), sender, receiver, lo, hi, text, image, None, at, at, read))
        if len(batch) == 50_000:
            db.executemany(
                "INSERT INTO messages (id, sender_id, receiver_id, user_lo, user_hi, text, image, image_media_id,"
                " created_at, updated_at, read_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            batch.clear()
    if batch:
        db.executemany(
            "INSERT INTO messages (id, sender_id, receiver_id, user_lo, user_hi, text, image, image_media_id,"
            " created_at, updated_at, read_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
    db.commit()
    db.close()


if __name__ == "__main__":
    main()
