-- The auto-trigger threshold becomes a range: in an auto-trigger channel the bot joins in after a
-- number of people's messages drawn from [auto_trigger_min, auto_trigger_max] for each cycle
-- (`tomori_core::trigger::AutoRange`). 0–0 is off, as `/server` always said 0 was; before this,
-- 0 made the engine answer every message in those channels.
--
-- A threshold N > 0 drew its target from [1, N], so it becomes the range 1–N. Replying to every
-- message is the server-wide `always_reply` flag, which no longer depends on the channel sets.

ALTER TABLE server_settings
    ADD COLUMN auto_trigger_min smallint NOT NULL DEFAULT 0,
    ADD COLUMN auto_trigger_max smallint NOT NULL DEFAULT 0;

UPDATE server_settings
   SET auto_trigger_min = 1, auto_trigger_max = auto_trigger_threshold
 WHERE auto_trigger_threshold > 0;

ALTER TABLE server_settings
    ADD CONSTRAINT server_settings_auto_trigger_range CHECK (
        (auto_trigger_min = 0 AND auto_trigger_max = 0)
        OR (auto_trigger_min >= 1 AND auto_trigger_min <= auto_trigger_max
            AND auto_trigger_max <= 1000)
    ),
    DROP COLUMN auto_trigger_threshold;
