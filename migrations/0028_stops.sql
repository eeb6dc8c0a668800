-- Stop strings as TomoriBot keeps them: up to 40 per server, each up to 200 characters (every
-- answer is scanned for all of them; the wire formats receive only as many as they take), and
-- the opt-in speaker pattern, which ends an answer at a line opening with another speaker's
-- `Name:` label.
ALTER TABLE server_models DROP CONSTRAINT IF EXISTS server_models_stop_check;
ALTER TABLE server_models
    ADD CONSTRAINT server_models_stop_check CHECK (cardinality(stop) <= 40),
    ADD COLUMN stop_speaker boolean NOT NULL DEFAULT false;
