-- A member's own choice of deliberate tool mode (`/personal deliberate-tools on|off|server`):
-- NULL follows the server's switch. Turns read it through the member's cached view, so it moves
-- their revision like their other settings.
ALTER TABLE users ADD COLUMN deliberate_tools boolean;

DROP TRIGGER revision ON users;
CREATE TRIGGER revision
    BEFORE UPDATE OF privacy_level, language, nickname, model_provider, model_id, model_fallback,
        deliberate_tools
    ON users
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_own_revision();

GRANT UPDATE (deliberate_tools) ON users TO tomori_app;
