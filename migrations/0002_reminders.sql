-- Reminders: what the scheduler needs to find due reminders across tenants, and an index for the
-- per-member cap.
--
-- The scheduler runs for the whole instance, but `reminders` is confined by row-level security to
-- the tenant of the transaction. These two functions run with the owner's rights and return only
-- what is needed to open the right tenant afterwards: ids and server ids of due reminders, and the
-- earliest time anything is due. Claiming, reading and changing a reminder then happens in that
-- reminder's own tenant scope, under row-level security like everything else.

CREATE FUNCTION tomori_due_reminders(p_now timestamptz, p_limit integer)
    RETURNS TABLE (reminder_id bigint, reminder_server_id bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
    SELECT r.id, r.server_id FROM reminders r
    WHERE r.next_attempt_at <= p_now
    ORDER BY r.next_attempt_at, r.id
    LIMIT least(greatest(p_limit, 0), 1000)
$$;

CREATE FUNCTION tomori_next_reminder_at() RETURNS timestamptz
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$ SELECT min(r.next_attempt_at) FROM reminders r $$;

REVOKE ALL ON FUNCTION tomori_due_reminders(timestamptz, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION tomori_next_reminder_at() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tomori_due_reminders(timestamptz, integer) TO tomori_app;
GRANT EXECUTE ON FUNCTION tomori_next_reminder_at() TO tomori_app;

-- Counting a member's pending reminders for the cap, and listing them.
CREATE INDEX reminders_member ON reminders (server_id, user_discord_id, due_at);
