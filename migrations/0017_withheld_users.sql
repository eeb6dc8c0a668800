-- Which of some Discord users are at privacy level 2. The history backfill reads a channel's
-- recent messages from Discord after a restart, before any of their authors has written since, and
-- must leave out everyone at that level. The application may read only its scope user's row, so
-- this owner-rights function answers the one fact it needs across users, and nothing else: the
-- ids given that are withheld.
CREATE FUNCTION tomori_withheld_users(p_discord_ids bigint[]) RETURNS SETOF bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
    AS $$
    SELECT u.discord_id FROM users u
    WHERE u.discord_id = ANY (p_discord_ids[1:200]) AND u.privacy_level = 2
$$;
REVOKE ALL ON FUNCTION tomori_withheld_users(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tomori_withheld_users(bigint[]) TO tomori_app;
