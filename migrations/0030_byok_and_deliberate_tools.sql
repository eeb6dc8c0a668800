-- Two server switches (`/server byok-required`, `/server deliberate-tools`): members must bring
-- their own key (their keys or their own endpoint answer their turns; the server's keys, its
-- endpoints and the instance's providers are never spent on them), and tools are offered only
-- to a message that asks for what they do.
ALTER TABLE server_settings
    ADD COLUMN byok_required    boolean NOT NULL DEFAULT false,
    ADD COLUMN deliberate_tools boolean NOT NULL DEFAULT false;
