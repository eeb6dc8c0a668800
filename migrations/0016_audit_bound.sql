-- An audit chain belongs to its tenant, and a chain's head only moves forward to a row that
-- exists. Before this, the application role (which may INSERT into audit_log and UPDATE
-- audit_heads of its own tenant) could append rows named after another tenant's chain, or set its
-- own head back to hide the newest rows from `tomori audit verify`.

-- The name is a function of the tenant columns. NOT VALID: rows written before this are judged
-- by `audit verify`, which recomputes every chain anyway; every new row is checked.
ALTER TABLE audit_log ADD CONSTRAINT audit_log_chain_is_its_tenants CHECK (
    chain = CASE
        WHEN server_id IS NOT NULL THEN 'server:' || server_id
        WHEN user_id IS NOT NULL THEN 'user:' || user_id
        ELSE 'instance'
    END
) NOT VALID;
ALTER TABLE audit_heads ADD CONSTRAINT audit_heads_chain_is_its_tenants CHECK (
    chain = CASE
        WHEN server_id IS NOT NULL THEN 'server:' || server_id
        WHEN user_id IS NOT NULL THEN 'user:' || user_id
        ELSE 'instance'
    END
) NOT VALID;

-- A new head starts at the genesis; an update moves it by exactly one row, to the row of the
-- chain that links to the old head. Runs with the caller's rights: row-level security shows the
-- application its own tenant's rows only, which is all it may append to.
CREATE FUNCTION tomori_audit_head_forward() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.seq <> 0 OR NEW.hash <> '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea THEN
            RAISE EXCEPTION 'an audit chain starts at its genesis' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.chain <> OLD.chain OR NEW.server_id IS DISTINCT FROM OLD.server_id
        OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        RAISE EXCEPTION 'an audit head keeps its chain' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.seq <> OLD.seq + 1 OR NOT EXISTS (
        SELECT 1 FROM audit_log l
        WHERE l.chain = NEW.chain AND l.seq = NEW.seq AND l.hash = NEW.hash
          AND l.prev_hash = OLD.hash
    ) THEN
        RAISE EXCEPTION 'an audit head moves forward one linked row at a time'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION tomori_audit_head_forward() FROM PUBLIC;
CREATE TRIGGER forward BEFORE INSERT OR UPDATE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION tomori_audit_head_forward();
