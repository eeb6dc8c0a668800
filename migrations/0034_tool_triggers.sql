-- A server's own phrases and expressions for deliberate tool mode (`/server tool-trigger`): each
-- asks for one family of tools where a message holds it. Turns read them, so every change moves
-- the server's revision. The store checks each pattern (an expression must compile within its
-- limits) and the counts (50 in all, 16 per family) in the transaction that adds one.
CREATE TABLE tool_triggers (
    server_id  bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    family     text   NOT NULL CHECK (family IN ('web', 'reminders', 'pictures', 'videos', 'memory',
                                                 'messages', 'channels', 'stickers', 'files', 'server')),
    kind       text   NOT NULL CHECK (kind IN ('phrase', 'regex')),
    pattern    text   NOT NULL CHECK (length(pattern) BETWEEN 1 AND 120),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, family, kind, pattern)
);

ALTER TABLE tool_triggers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON tool_triggers USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, DELETE ON tool_triggers TO tomori_app;

CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON tool_triggers
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
