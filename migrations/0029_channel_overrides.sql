-- Per-channel and per-persona control (`/server channel-prompt`, `/server channel-model`,
-- `/persona model`). A channel here may be a text channel, a forum or a category: a thread
-- follows its parent and a channel its category when they have no row of their own. In a
-- channel, its prompt replaces the server's system prompt, and its model answers in place of
-- the server's (and of the persona's); a persona's model answers for it elsewhere. Turns read
-- both, so every change moves the server's revision.
CREATE TABLE channel_overrides (
    server_id     bigint  NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    channel_id    bigint  NOT NULL,
    system_prompt text    CHECK (length(system_prompt) BETWEEN 1 AND 8000),
    provider      text    CHECK (length(provider) BETWEEN 1 AND 71),
    model         text    CHECK (length(model) BETWEEN 1 AND 200),
    vision        boolean NOT NULL DEFAULT false,
    tools         boolean NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, channel_id),
    CHECK ((provider IS NULL) = (model IS NULL)),
    CHECK (system_prompt IS NOT NULL OR provider IS NOT NULL)
);

ALTER TABLE channel_overrides ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON channel_overrides USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, UPDATE, DELETE ON channel_overrides TO tomori_app;

CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON channel_overrides
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();

CREATE TABLE persona_models (
    server_id  bigint  NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    persona_id bigint  NOT NULL,
    provider   text    NOT NULL CHECK (length(provider) BETWEEN 1 AND 71),
    model      text    NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    vision     boolean NOT NULL DEFAULT false,
    tools      boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, persona_id),
    FOREIGN KEY (server_id, persona_id) REFERENCES personas (server_id, id) ON DELETE CASCADE
);

ALTER TABLE persona_models ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON persona_models USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, UPDATE, DELETE ON persona_models TO tomori_app;

CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON persona_models
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
