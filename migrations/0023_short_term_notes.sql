-- Short-term memory: a persona's short notes about what is going on in a channel, and with a
-- member there, written by the model (`update_short_term_memory`) and shown for a day in the
-- persona's turns in the server's other channels. A note from a private channel (the server's
-- `private` set) is never shown anywhere else; a direct message is a tenant of its own, so its
-- notes never reach a guild. Notes are about members at privacy level 0 only (the tool refuses
-- the others). Read at each answer, not cached, so writing one does not move the server's
-- revision.
CREATE TABLE short_term_notes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_id   bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    lineage_id  bigint NOT NULL CHECK (lineage_id > 0),
    channel_id  bigint NOT NULL,
    -- The member the note is about (their Discord id), or NULL for the channel as a whole.
    member_id   bigint,
    private     boolean NOT NULL,
    note        text   NOT NULL CHECK (char_length(note) BETWEEN 1 AND 1500),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (server_id, lineage_id, channel_id, member_id)
);
CREATE INDEX short_term_notes_recent ON short_term_notes (server_id, lineage_id, updated_at DESC);

ALTER TABLE short_term_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON short_term_notes USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, UPDATE, DELETE ON short_term_notes TO tomori_app;
