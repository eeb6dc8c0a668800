-- Core model: tenants, personas, memories, settings, credentials, endpoints, webhooks,
-- cooldowns, quotas, reminders, the sealed-key check values and the audit chain.
--
-- Tenancy: every table that holds guild or user data carries `server_id` or `user_id` (internal
-- ids) and has a row-level-security policy that compares it with the tenant the application set
-- for the current transaction (`tomori.server_id`, `tomori.user_id`, see tomori_current_server()).
-- The application runs as `tomori_app`, which is neither superuser nor BYPASSRLS nor the owner of
-- these tables, so a query that forgets its tenant filter still sees only its own tenant's rows.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tomori_app') THEN
        CREATE ROLE tomori_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
GRANT tomori_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO tomori_app;

CREATE FUNCTION tomori_current_server() RETURNS bigint
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('tomori.server_id', true), '')::bigint $$;

CREATE FUNCTION tomori_current_user() RETURNS bigint
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('tomori.user_id', true), '')::bigint $$;

-- Lineage ids survive re-imports of a persona; 0 is reserved for "every persona".
CREATE SEQUENCE persona_lineage_seq START WITH 1;

CREATE TABLE servers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text   NOT NULL CHECK (kind IN ('guild', 'dm')),
    -- The guild's snowflake, or for a DM pseudo-server the user's snowflake.
    discord_id  bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, discord_id)
);

CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    discord_id     bigint   NOT NULL UNIQUE,
    privacy_level  smallint NOT NULL DEFAULT 0 CHECK (privacy_level BETWEEN 0 AND 2),
    language       text     NOT NULL DEFAULT 'en' CHECK (length(language) BETWEEN 2 AND 16),
    nickname       text     CHECK (length(nickname) <= 64),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE personas (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_id        bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    lineage_id       bigint NOT NULL DEFAULT nextval('persona_lineage_seq') CHECK (lineage_id > 0),
    is_main          boolean NOT NULL,
    nickname         text   NOT NULL CHECK (length(nickname) BETWEEN 1 AND 80),
    prompt           text   NOT NULL DEFAULT '',
    attributes       text[] NOT NULL DEFAULT '{}',
    -- An array of {"user": "...", "bot": "..."} pairs.
    sample_dialogues jsonb  NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(sample_dialogues) = 'array'),
    trigger_words    text[] NOT NULL DEFAULT '{}',
    avatar_url       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX personas_nickname_per_server ON personas (server_id, lower(nickname));
CREATE UNIQUE INDEX personas_one_main_per_server ON personas (server_id) WHERE is_main;

CREATE TABLE server_memories (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_id        bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    lineage_id       bigint NOT NULL CHECK (lineage_id > 0),
    content          text   NOT NULL CHECK (length(content) > 0),
    teacher_discord_id bigint,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX server_memories_scope ON server_memories (server_id, lineage_id, created_at DESC);

CREATE TABLE personal_memories (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 0 means the memory applies to every persona.
    lineage_id  bigint NOT NULL CHECK (lineage_id >= 0),
    content     text   NOT NULL CHECK (length(content) > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX personal_memories_scope ON personal_memories (user_id, lineage_id, created_at DESC);

CREATE TABLE server_settings (
    server_id            bigint PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    trigger_words        text[]   NOT NULL DEFAULT '{}',
    cascade_limit        smallint NOT NULL DEFAULT 3  CHECK (cascade_limit BETWEEN 0 AND 10),
    match_limit          smallint NOT NULL DEFAULT 3  CHECK (match_limit BETWEEN 1 AND 10),
    send_limit           smallint NOT NULL DEFAULT 0  CHECK (send_limit BETWEEN 0 AND 50),
    message_fetch_limit  smallint NOT NULL DEFAULT 80 CHECK (message_fetch_limit BETWEEN 1 AND 200),
    humanizer_degree     smallint NOT NULL DEFAULT 1  CHECK (humanizer_degree BETWEEN 0 AND 3),
    timezone             text     NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64),
    system_prompt        text     CHECK (length(system_prompt) <= 8000),
    context_note         text     CHECK (length(context_note) <= 2000),
    thought_log_channel  bigint,
    cooldown_kind        text     NOT NULL DEFAULT 'off'
                                  CHECK (cooldown_kind IN ('off', 'per_user', 'per_channel', 'server_wide', 'strict')),
    cooldown_seconds     integer  NOT NULL DEFAULT 5 CHECK (cooldown_seconds BETWEEN 0 AND 86400),
    auto_trigger_threshold smallint NOT NULL DEFAULT 0 CHECK (auto_trigger_threshold BETWEEN 0 AND 1000),
    always_reply         boolean  NOT NULL DEFAULT false,
    deliberate_trigger   boolean  NOT NULL DEFAULT false,
    member_teaching      boolean  NOT NULL DEFAULT false,
    -- Feature flags. Conservative defaults for the ones that can spend money or touch other channels.
    tool_use             boolean  NOT NULL DEFAULT true,
    self_teaching        boolean  NOT NULL DEFAULT true,
    personal_memories    boolean  NOT NULL DEFAULT true,
    web_search           boolean  NOT NULL DEFAULT true,
    image_gen            boolean  NOT NULL DEFAULT false,
    video_gen            boolean  NOT NULL DEFAULT false,
    manage_message       boolean  NOT NULL DEFAULT false,
    thread_creation      boolean  NOT NULL DEFAULT false,
    cross_channel        boolean  NOT NULL DEFAULT false,
    prompt_snapshot      boolean  NOT NULL DEFAULT false,
    sticker_usage        boolean  NOT NULL DEFAULT true,
    emoji_usage          boolean  NOT NULL DEFAULT true,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE server_channels (
    server_id   bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    channel_set text   NOT NULL
                CHECK (channel_set IN ('whitelist', 'auto_trigger', 'rp', 'private', 'cross_channel_blocklist')),
    channel_id  bigint NOT NULL,
    PRIMARY KEY (server_id, channel_set, channel_id)
);

CREATE TABLE server_role_whitelist (
    server_id bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    role_id   bigint NOT NULL,
    PRIMARY KEY (server_id, role_id)
);

CREATE TABLE server_user_blacklist (
    server_id       bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    user_discord_id bigint NOT NULL,
    PRIMARY KEY (server_id, user_discord_id)
);

-- Provider keys. A row belongs to a server or to a user, never both; several rows per provider
-- form that owner's key pool.
CREATE TABLE provider_credentials (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_id    bigint REFERENCES servers (id) ON DELETE CASCADE,
    user_id      bigint REFERENCES users (id) ON DELETE CASCADE,
    provider     text   NOT NULL CHECK (length(provider) BETWEEN 1 AND 64),
    label        text   NOT NULL DEFAULT 'default' CHECK (length(label) BETWEEN 1 AND 64),
    secret       bytea  NOT NULL,
    key_version  integer NOT NULL CHECK (key_version > 0),
    enabled      boolean NOT NULL DEFAULT true,
    usage_count  bigint  NOT NULL DEFAULT 0,
    error_count  bigint  NOT NULL DEFAULT 0,
    last_used_at timestamptz,
    last_error_at timestamptz,
    last_error_kind text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((server_id IS NULL) <> (user_id IS NULL))
);
CREATE UNIQUE INDEX provider_credentials_label ON provider_credentials
    (COALESCE(server_id, 0), COALESCE(user_id, 0), provider, label);

CREATE TABLE custom_endpoints (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_id   bigint REFERENCES servers (id) ON DELETE CASCADE,
    user_id     bigint REFERENCES users (id) ON DELETE CASCADE,
    label       text   NOT NULL CHECK (length(label) BETWEEN 1 AND 64),
    capability  text   NOT NULL CHECK (capability IN ('text', 'embedding')),
    base_url    text   NOT NULL CHECK (length(base_url) <= 2048),
    model       text   NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    api_key     bytea,
    key_version integer CHECK (key_version > 0),
    context_length integer CHECK (context_length > 0),
    has_tools   boolean NOT NULL DEFAULT false,
    has_vision  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((server_id IS NULL) <> (user_id IS NULL)),
    CHECK ((api_key IS NULL) = (key_version IS NULL))
);
CREATE UNIQUE INDEX custom_endpoints_label ON custom_endpoints
    (COALESCE(server_id, 0), COALESCE(user_id, 0), label);

CREATE TABLE mcp_servers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_id   bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name        text   NOT NULL CHECK (name ~ '^[a-z0-9_-]{1,32}$'),
    url         text   NOT NULL CHECK (length(url) <= 2048),
    auth_token  bytea,
    key_version integer CHECK (key_version > 0),
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (server_id, name),
    CHECK ((auth_token IS NULL) = (key_version IS NULL))
);

CREATE TABLE managed_webhooks (
    server_id   bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    channel_id  bigint NOT NULL,
    webhook_id  bigint NOT NULL UNIQUE,
    token       bytea  NOT NULL,
    key_version integer NOT NULL CHECK (key_version > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, channel_id)
);

CREATE UNLOGGED TABLE cooldowns (
    server_id  bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    -- What the cooldown is keyed by, e.g. 'user:123', 'channel:456', 'server', 'command:persona:123'.
    cooldown_key text NOT NULL CHECK (length(cooldown_key) <= 128),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (server_id, cooldown_key)
);

CREATE TABLE quota_settings (
    server_id         bigint  NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    kind              text    NOT NULL CHECK (kind IN ('text', 'image', 'video')),
    enabled           boolean NOT NULL DEFAULT false,
    per_user_daily    integer NOT NULL DEFAULT 0 CHECK (per_user_daily BETWEEN 0 AND 100),
    server_pool       integer NOT NULL DEFAULT 0 CHECK (server_pool BETWEEN 0 AND 99999),
    reset_period_days integer NOT NULL DEFAULT 365 CHECK (reset_period_days BETWEEN 1 AND 365),
    PRIMARY KEY (server_id, kind)
);

CREATE TABLE quota_counters (
    server_id       bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    kind            text   NOT NULL CHECK (kind IN ('text', 'image', 'video')),
    -- 0 is the server pool; otherwise the user's snowflake.
    user_discord_id bigint NOT NULL,
    period_start    date   NOT NULL,
    used            integer NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (server_id, kind, user_discord_id, period_start)
);

CREATE TABLE reminders (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_id       bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    channel_id      bigint NOT NULL,
    user_discord_id bigint NOT NULL,
    persona_id      bigint REFERENCES personas (id) ON DELETE SET NULL,
    purpose         text   NOT NULL CHECK (length(purpose) BETWEEN 1 AND 1000),
    due_at          timestamptz NOT NULL,
    repeat_hours    integer CHECK (repeat_hours > 0),
    attempts        smallint NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reminders_due ON reminders (next_attempt_at);

-- One sealed check value per key version, so a wrong secret is detected at startup rather than
-- on the first decryption. Instance data: no tenant, read by the owner connection only.
CREATE TABLE key_checks (
    key_version integer PRIMARY KEY CHECK (key_version > 0),
    sealed      bytea   NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Hash-chained audit log, one chain per tenant ('server:<id>', 'user:<id>') plus 'instance'.
-- The application may only append: it has INSERT and SELECT, never UPDATE or DELETE.
CREATE TABLE audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain         text   NOT NULL,
    seq           bigint NOT NULL CHECK (seq > 0),
    server_id     bigint,
    user_id       bigint,
    actor         text   NOT NULL,
    action        text   NOT NULL,
    target        text   NOT NULL,
    before_digest bytea,
    after_digest  bytea,
    at            timestamptz NOT NULL,
    prev_hash     bytea  NOT NULL,
    hash          bytea  NOT NULL,
    UNIQUE (chain, seq)
);

CREATE TABLE audit_heads (
    chain     text   PRIMARY KEY,
    server_id bigint,
    user_id   bigint,
    seq       bigint NOT NULL,
    hash      bytea  NOT NULL
);

-- Every sealed column, for `tomori keys audit` and the startup check of the key ring.
CREATE VIEW sealed_values AS
    SELECT 'provider_credentials.secret' AS sealed_column, key_version FROM provider_credentials
    UNION ALL
    SELECT 'custom_endpoints.api_key', key_version FROM custom_endpoints WHERE api_key IS NOT NULL
    UNION ALL
    SELECT 'mcp_servers.auth_token', key_version FROM mcp_servers WHERE auth_token IS NOT NULL
    UNION ALL
    SELECT 'managed_webhooks.token', key_version FROM managed_webhooks;

-- Tenant resolution happens before a tenant is known, so these two run with the owner's rights
-- and touch nothing but the row they return.
CREATE FUNCTION tomori_resolve_server(p_kind text, p_discord_id bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT id INTO v_id FROM servers WHERE kind = p_kind AND discord_id = p_discord_id;
    IF v_id IS NULL THEN
        INSERT INTO servers (kind, discord_id) VALUES (p_kind, p_discord_id)
            ON CONFLICT (kind, discord_id) DO NOTHING
            RETURNING id INTO v_id;
        IF v_id IS NULL THEN
            SELECT id INTO v_id FROM servers WHERE kind = p_kind AND discord_id = p_discord_id;
        ELSE
            INSERT INTO server_settings (server_id) VALUES (v_id);
        END IF;
    END IF;
    RETURN v_id;
END
$$;

CREATE FUNCTION tomori_resolve_user(p_discord_id bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT id INTO v_id FROM users WHERE discord_id = p_discord_id;
    IF v_id IS NULL THEN
        INSERT INTO users (discord_id) VALUES (p_discord_id)
            ON CONFLICT (discord_id) DO NOTHING
            RETURNING id INTO v_id;
        IF v_id IS NULL THEN
            SELECT id INTO v_id FROM users WHERE discord_id = p_discord_id;
        END IF;
    END IF;
    RETURN v_id;
END
$$;
REVOKE ALL ON FUNCTION tomori_resolve_server(text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION tomori_resolve_user(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tomori_resolve_server(text, bigint) TO tomori_app;
GRANT EXECUTE ON FUNCTION tomori_resolve_user(bigint) TO tomori_app;

-- Row-level security: one policy per tenant table.
ALTER TABLE servers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON servers USING (id = tomori_current_server());

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON users USING (id = tomori_current_user());

ALTER TABLE personas ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON personas USING (server_id = tomori_current_server());

ALTER TABLE server_memories ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON server_memories USING (server_id = tomori_current_server());

ALTER TABLE personal_memories ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON personal_memories USING (user_id = tomori_current_user());

ALTER TABLE server_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON server_settings USING (server_id = tomori_current_server());

ALTER TABLE server_channels ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON server_channels USING (server_id = tomori_current_server());

ALTER TABLE server_role_whitelist ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON server_role_whitelist USING (server_id = tomori_current_server());

ALTER TABLE server_user_blacklist ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON server_user_blacklist USING (server_id = tomori_current_server());

ALTER TABLE provider_credentials ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON provider_credentials
    USING (server_id = tomori_current_server() OR user_id = tomori_current_user());

ALTER TABLE custom_endpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON custom_endpoints
    USING (server_id = tomori_current_server() OR user_id = tomori_current_user());

ALTER TABLE mcp_servers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON mcp_servers USING (server_id = tomori_current_server());

ALTER TABLE managed_webhooks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON managed_webhooks USING (server_id = tomori_current_server());

ALTER TABLE cooldowns ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON cooldowns USING (server_id = tomori_current_server());

ALTER TABLE quota_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON quota_settings USING (server_id = tomori_current_server());

ALTER TABLE quota_counters ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON quota_counters USING (server_id = tomori_current_server());

ALTER TABLE reminders ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON reminders USING (server_id = tomori_current_server());

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_log
    USING (server_id = tomori_current_server() OR user_id = tomori_current_user());

ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_heads
    USING (server_id = tomori_current_server() OR user_id = tomori_current_user());

ALTER TABLE key_checks ENABLE ROW LEVEL SECURITY;
-- No policy: the application role sees no rows; only the owner (maintenance connection) does.

-- Privileges of the application role.
GRANT SELECT ON servers, users TO tomori_app;
GRANT UPDATE (privacy_level, language, nickname), DELETE ON users TO tomori_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    personas, server_memories, personal_memories, server_settings, server_channels,
    server_role_whitelist, server_user_blacklist, provider_credentials, custom_endpoints,
    mcp_servers, managed_webhooks, cooldowns, quota_settings, quota_counters, reminders
    TO tomori_app;
GRANT USAGE ON SEQUENCE persona_lineage_seq TO tomori_app;
GRANT SELECT, INSERT ON audit_log TO tomori_app;
GRANT SELECT, INSERT, UPDATE ON audit_heads TO tomori_app;
