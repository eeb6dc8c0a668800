-- Persona avatars uploaded through the dashboard: re-encoded images the dashboard serves under
-- its public URL (Discord fetches a webhook's avatar from there). The persona's avatar_url
-- names the image by its digest, so a new upload is a new URL and no cache shows the old one.
CREATE TABLE persona_avatars (
    persona_id bigint PRIMARY KEY REFERENCES personas (id) ON DELETE CASCADE,
    server_id  bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    image      bytea  NOT NULL CHECK (octet_length(image) BETWEEN 1 AND 1048576),
    digest     text   NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX persona_avatars_server ON persona_avatars (server_id);

ALTER TABLE persona_avatars ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON persona_avatars USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, UPDATE, DELETE ON persona_avatars TO tomori_app;

-- Discord fetches an avatar without any tenant: the dashboard serves it by digest alone. This
-- owner-rights function answers that one fact, the image with a given digest, and nothing else.
CREATE FUNCTION tomori_avatar(p_digest text) RETURNS bytea
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
    AS $$
    SELECT image FROM persona_avatars WHERE digest = p_digest LIMIT 1
$$;
REVOKE ALL ON FUNCTION tomori_avatar(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tomori_avatar(text) TO tomori_app;
