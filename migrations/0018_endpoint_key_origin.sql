-- An endpoint's key is sealed for the endpoint's origin as well as its row (the origin is part of
-- the sealed value's associated data), so editing `base_url` in the database to another host
-- leaves a key that does not open. Keys stored before this are unbound until the next start of
-- the bot re-seals them bound (`keys::bind_endpoint_keys`); this column says which is which.
ALTER TABLE custom_endpoints ADD COLUMN api_key_bound boolean NOT NULL DEFAULT false;
