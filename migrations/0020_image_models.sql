-- The model that draws for a server (`/model image`, the generate_image tool and `/generate`):
-- `provider/model` like a fallback entry, a known provider or one of the server's custom
-- endpoints. Kept apart from server_models so a server answered by the instance's text providers
-- can still choose who draws; read when an image is asked for, never by a turn's plan.
CREATE TABLE server_image_models (
    server_id  bigint PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    provider   text   NOT NULL CHECK (provider ~ '^(custom:)?[a-z0-9_-]{1,64}$'),
    model      text   NOT NULL CHECK (char_length(model) BETWEEN 1 AND 200),
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE server_image_models ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON server_image_models USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, UPDATE, DELETE ON server_image_models TO tomori_app;
