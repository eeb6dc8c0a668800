-- A member's own model (`/personal model set`): which provider and model answer their turns,
-- paid with the keys they added for that provider (`/personal key add`), and whether the
-- server's models may step in when theirs fails (never where the server requires members to
-- bring their own key). The member's chain is cached under their revision, so these columns
-- move it like the other settings.
ALTER TABLE users
    ADD COLUMN model_provider text CHECK (length(model_provider) BETWEEN 1 AND 64),
    ADD COLUMN model_id       text CHECK (length(model_id) BETWEEN 1 AND 200),
    ADD COLUMN model_fallback boolean NOT NULL DEFAULT true,
    ADD CONSTRAINT users_model_pair CHECK ((model_provider IS NULL) = (model_id IS NULL));

DROP TRIGGER revision ON users;
CREATE TRIGGER revision
    BEFORE UPDATE OF privacy_level, language, nickname, model_provider, model_id, model_fallback
    ON users
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_own_revision();

-- The member changes these through the app, as their other settings.
GRANT UPDATE (model_provider, model_id, model_fallback) ON users TO tomori_app;
