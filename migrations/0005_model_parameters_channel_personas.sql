-- Sampler parameters beyond temperature and stop strings for a server's model (`/model
-- parameters`, `/model stop`). NULL means "not sent": the provider's default applies.

ALTER TABLE server_models
    ADD COLUMN top_p             real    CHECK (top_p BETWEEN 0 AND 1),
    ADD COLUMN top_k             integer CHECK (top_k BETWEEN 1 AND 1000),
    ADD COLUMN max_tokens        integer CHECK (max_tokens BETWEEN 1 AND 65536),
    ADD COLUMN frequency_penalty real    CHECK (frequency_penalty BETWEEN -2 AND 2),
    ADD COLUMN presence_penalty  real    CHECK (presence_penalty BETWEEN -2 AND 2),
    -- At most 4 (OpenAI's limit, the strictest of the three wire formats), each 1 to 50
    -- characters (checked by the application).
    ADD COLUMN stop              text[]  NOT NULL DEFAULT '{}' CHECK (cardinality(stop) <= 4);

-- The model used for a turn whose context has images when the chosen model does not see them
-- (`/model vision`): `provider/model`, the shape of a fallback entry.
ALTER TABLE server_models
    ADD COLUMN vision_model text CHECK (vision_model ~ '^(custom:)?[a-z0-9_-]{1,64}/.{1,200}$');

-- The persona that speaks by default in a channel (`/server channel-persona`): there it answers
-- in place of the main persona when the bot is mentioned or replied to, or the channel
-- auto-triggers; the other personas' names and trigger words still call them. A thread without
-- a row of its own follows its parent channel.
-- Security: cross-tenant references. The persona must belong to the same server: the foreign key
-- covers (server_id, persona_id), so a row cannot point at another server's persona.
ALTER TABLE personas ADD CONSTRAINT personas_server_id_id UNIQUE (server_id, id);

CREATE TABLE channel_personas (
    server_id   bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    channel_id  bigint NOT NULL,
    persona_id  bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, channel_id),
    FOREIGN KEY (server_id, persona_id) REFERENCES personas (server_id, id) ON DELETE CASCADE
);

ALTER TABLE channel_personas ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON channel_personas USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, UPDATE, DELETE ON channel_personas TO tomori_app;
