-- The application logs in as `tomori_app` itself instead of logging in as the owner and switching
-- with SET ROLE: a connection that can RESET ROLE is one statement away from the owner's rights,
-- which row-level security does not apply to. The password is set at startup by the owner pool
-- (`tomori_store::db::connect_app`), derived from the key ring, so none is stored here.
--
-- A role created by an operator beforehand may belong to someone the owner cannot alter; then
-- the operator gives `[database] app_url` with the role's own credentials instead.
DO $$
BEGIN
    ALTER ROLE tomori_app LOGIN;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'tomori_app: cannot grant LOGIN (set [database] app_url with its credentials)';
END
$$;

-- Functions that run with the owner's rights resolve names in pg_catalog and public only, with
-- the session's temporary schema searched last: otherwise a caller's temporary table or
-- function named like one of ours would be found first (PostgreSQL searches pg_temp first when
-- search_path does not name it).
DO $$
DECLARE
    v_fn regprocedure;
BEGIN
    FOR v_fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.prosecdef AND p.pronamespace = 'public'::regnamespace
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, public, pg_temp', v_fn);
    END LOOP;
END
$$;

-- Sets the application role's password: called by the owner pool when `tomori_app` refuses the
-- password derived from the key ring. ALTER ROLE takes no bind parameters; format() quotes the
-- literal here, so the Rust side never builds SQL. Not granted to the application.
CREATE FUNCTION tomori_set_app_password(p_password text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    EXECUTE format('ALTER ROLE tomori_app WITH LOGIN PASSWORD %L', p_password);
END
$$;
REVOKE ALL ON FUNCTION tomori_set_app_password(text) FROM PUBLIC;
