-- A persona's lorebook (SillyTavern World Info): its entries fire into the prompt when their keys
-- appear in the recent conversation. Stored as the V2 `character_book` JSON that
-- tomori_core::lorebook checked and wrote in normal form, so a card exports it unchanged. Turns
-- read it, so a change moves the server's revision like any persona change.
-- Security: cross-tenant references. The foreign key covers (server_id, persona_id), so a row
-- cannot point at another server's persona.
CREATE TABLE persona_lorebooks (
    persona_id bigint PRIMARY KEY,
    server_id  bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    book       jsonb  NOT NULL CHECK (octet_length(book::text) <= 4194304),
    updated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (server_id, persona_id) REFERENCES personas (server_id, id) ON DELETE CASCADE
);
CREATE INDEX persona_lorebooks_server ON persona_lorebooks (server_id);

ALTER TABLE persona_lorebooks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON persona_lorebooks USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, UPDATE, DELETE ON persona_lorebooks TO tomori_app;

CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON persona_lorebooks
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
