-- Groups and their members (see GroupRepository). A membership change locks its group's row
-- (SELECT ... FOR UPDATE) before it reads the roster, so changes to one group are decided one
-- after the other, each against the roster as it is then; an open group has exactly one owner.

CREATE TABLE groups (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    avatar          text NOT NULL DEFAULT '',
    avatar_media_id text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    closed_at       timestamptz
);

CREATE TABLE group_members (
    group_id  text NOT NULL REFERENCES groups (id),
    user_id   text NOT NULL REFERENCES users (id),
    role      text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at timestamptz NOT NULL,
    PRIMARY KEY (group_id, user_id)
);

CREATE INDEX group_members_user ON group_members (user_id, group_id);

CREATE UNIQUE INDEX group_members_owner ON group_members (group_id) WHERE role = 'owner';
