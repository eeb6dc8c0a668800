-- Revisions: a counter per server and per user that every committed change to the state the
-- engine reads for a turn moves forward, in the same transaction as the change.
--
-- The bot keeps that state in memory and asks for the two counters once per message
-- (`tomori_revisions`); a cached copy is used only while its counter is unchanged. Because the
-- counter moves inside the writing transaction, a change is visible to every process exactly
-- when it commits, and no write path can forget to invalidate: the triggers below do it.
--
-- Counters that change on every turn (key usage, quota use, reminders, the audit chain)
-- deliberately do not move a revision, or the cache would never hit.

ALTER TABLE servers ADD COLUMN revision bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN revision bigint NOT NULL DEFAULT 0;

-- Moves the revision of the server and/or user the changed row belongs to. Runs with the owner's
-- rights: the application role may not update `servers` or a user's counter directly.
CREATE FUNCTION tomori_bump_revision() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
DECLARE
    v_row jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        v_row := to_jsonb(OLD);
    ELSE
        v_row := to_jsonb(NEW);
    END IF;
    IF (v_row ->> 'server_id') IS NOT NULL THEN
        UPDATE servers SET revision = revision + 1 WHERE id = (v_row ->> 'server_id')::bigint;
    END IF;
    IF (v_row ->> 'user_id') IS NOT NULL THEN
        UPDATE users SET revision = revision + 1 WHERE id = (v_row ->> 'user_id')::bigint;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION tomori_bump_revision() FROM PUBLIC;

CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON server_settings
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON server_channels
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON server_role_whitelist
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON server_user_blacklist
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON personas
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON server_memories
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON personal_memories
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON server_models
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON custom_endpoints
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON quota_settings
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON channel_personas
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
CREATE TRIGGER revision AFTER INSERT OR UPDATE OR DELETE ON server_embedding_models
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
-- Only which documents exist (their model, for retrieval); their passages and vectors have the
-- document generation of 0006, so that a memory learned does not reload megabytes of vectors.
CREATE TRIGGER revision AFTER INSERT OR DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();
-- Usage and error counters of a key change on every call and are not part of a turn's plan.
CREATE TRIGGER revision
    AFTER INSERT OR DELETE OR UPDATE OF provider, label, secret, key_version, enabled
    ON provider_credentials
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_revision();

-- A user's own settings move their own revision.
CREATE FUNCTION tomori_bump_own_revision() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END
$$;
CREATE TRIGGER revision BEFORE UPDATE OF privacy_level, language, nickname ON users
    FOR EACH ROW EXECUTE FUNCTION tomori_bump_own_revision();

-- The server (created on first contact) and its revision, and the same for a user when one is
-- named: what the bot asks once per message. Like the resolve functions, it runs with the
-- owner's rights and reads nothing but the rows it returns.
CREATE FUNCTION tomori_revisions(p_kind text, p_discord_id bigint, p_user bigint)
    RETURNS TABLE (server_id bigint, server_revision bigint, user_id bigint, user_revision bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
#variable_conflict use_variable
BEGIN
    server_id := tomori_resolve_server(p_kind, p_discord_id);
    SELECT s.revision INTO server_revision FROM servers s WHERE s.id = server_id;
    IF p_user IS NOT NULL THEN
        user_id := tomori_resolve_user(p_user);
        SELECT u.revision INTO user_revision FROM users u WHERE u.id = user_id;
    END IF;
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION tomori_revisions(text, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tomori_revisions(text, bigint, bigint) TO tomori_app;
