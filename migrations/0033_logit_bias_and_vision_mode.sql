-- Logit bias (`/model logit-bias`): up to 50 entries of text, bias and the text's ids in each
-- vocabulary Tomori tokenizes for, worked out when an entry is added. The store checks each entry
-- before writing; the size check here is a backstop.
ALTER TABLE server_models ADD COLUMN logit_bias jsonb NOT NULL DEFAULT '[]'::jsonb
    CHECK (jsonb_typeof(logit_bias) = 'array' AND pg_column_size(logit_bias) <= 65536);

-- How the vision model helps a chat model that cannot see (`/model vision mode`): it answers the
-- turn in its place (`answer`, as before), or it describes an image when the chat model asks
-- through `analyze_image` (`describe`).
ALTER TABLE server_models ADD COLUMN vision_mode text NOT NULL DEFAULT 'answer'
    CHECK (vision_mode IN ('answer', 'describe'));
