-- The model that makes videos for a server (`/model video`, the generate_video tool):
-- `provider/model` like the image model, a known provider or one of the server's custom
-- endpoints (only Gemini's Veo has a video API today; the others are refused when asked).
-- Read when a video is asked for, never by a turn's plan, so no revision moves with it.
CREATE TABLE server_video_models (
    server_id  bigint PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    provider   text   NOT NULL CHECK (provider ~ '^(custom:)?[a-z0-9_-]{1,64}$'),
    model      text   NOT NULL CHECK (char_length(model) BETWEEN 1 AND 200),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Security: cross-tenant leakage. Each server sees and changes only its own row.
ALTER TABLE server_video_models ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON server_video_models USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, UPDATE, DELETE ON server_video_models TO tomori_app;
