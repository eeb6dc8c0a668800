-- Generation controls of a server's model (`/model parameters min_p`, `/model thinking`): min-p
-- sampling, NULL meaning "not sent", and how much the model should reason before answering,
-- which each wire format sends in its own field ('auto' sends nothing).
ALTER TABLE server_models
    ADD COLUMN min_p    real CHECK (min_p BETWEEN 0 AND 1),
    ADD COLUMN thinking text NOT NULL DEFAULT 'auto'
        CHECK (thinking IN ('auto', 'none', 'low', 'medium', 'high'));
