-- The model a server talks through: a known provider (with the server's own keys from
-- provider_credentials) or one of the server's custom endpoints (`custom:<label>`), what the
-- model can do, its sampling temperature, and an ordered fallback chain of the same shape.
-- One row per server; no row means the instance providers from the operator's config.

CREATE TABLE server_models (
    server_id    bigint   PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    provider     text     NOT NULL CHECK (provider ~ '^(custom:)?[a-z0-9_-]{1,64}$'),
    model        text     NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    vision       boolean  NOT NULL DEFAULT false,
    tools        boolean  NOT NULL DEFAULT true,
    temperature  real     CHECK (temperature BETWEEN 0 AND 2),
    -- Each entry is `provider/model`, tried in order after the primary.
    fallback     text[]   NOT NULL DEFAULT '{}' CHECK (cardinality(fallback) <= 5),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE server_models ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON server_models USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, UPDATE, DELETE ON server_models TO tomori_app;
