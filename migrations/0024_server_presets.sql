-- A server's SillyTavern chat-completion presets (`/preset import|switch|toggle|remove`). The
-- JSON is kept as uploaded once tomori_core::preset has checked it, beside the blocks an admin
-- turned on or off since (`toggles`: identifier to true or false). At most one is active, and
-- turns lay out their prompt with it, so every change moves the server's revision.
CREATE TABLE server_presets (
    server_id  bigint  NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name       text    NOT NULL CHECK (name ~ '^[A-Za-z0-9 _.()-]{1,64}$'),
    preset     jsonb   NOT NULL CHECK (octet_length(preset::text) <= 2097152),
    toggles    jsonb   NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(toggles) = 'object'),
    active     boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, name)
);
CREATE UNIQUE INDEX server_presets_one_active ON server_presets (server_id) WHERE active;

ALTER TABLE server_presets ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON server_presets USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, UPDATE, DELETE ON server_presets TO tomori_app;

CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON server_presets
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
