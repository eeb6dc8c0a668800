-- Server documents for retrieval (`/memory document`) and the model that embeds them
-- (`/model embedding`).
--
-- No pgvector: a stock PostgreSQL has no vector type, and a server has at most 1,000 chunks, so
-- the bot searches them exactly in its own memory. Each chunk's embedding is a real[] (which
-- pgvector can cast, should an index ever be wanted); each document records the embedding family
-- (provider, model, dimension) its chunks were made with, so retrieval compares only vectors of
-- the server's current family.

-- The model a server embeds documents and queries with: a known provider (with the server's
-- keys) or one of its custom endpoints (`custom:<label>`). No row: no retrieval.
CREATE TABLE server_embedding_models (
    server_id   bigint PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    provider    text   NOT NULL CHECK (provider ~ '^(custom:)?[a-z0-9_-]{1,64}$'),
    model       text   NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    server_id    bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name         text   NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The embedding family of every chunk of the document.
    provider     text   NOT NULL CHECK (provider ~ '^(custom:)?[a-z0-9_-]{1,64}$'),
    model        text   NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    dimension    integer NOT NULL CHECK (dimension BETWEEN 1 AND 8192),
    chars        integer NOT NULL CHECK (chars BETWEEN 1 AND 120000),
    chunk_count  integer NOT NULL CHECK (chunk_count BETWEEN 1 AND 150),
    added_by_discord_id bigint,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX documents_name ON documents (server_id, lower(name));

CREATE TABLE document_chunks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id  bigint  NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    -- Repeated from the document so that row-level security and the search need no join.
    server_id    bigint  NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    ordinal      integer NOT NULL CHECK (ordinal BETWEEN 0 AND 149),
    content      text    NOT NULL CHECK (length(content) BETWEEN 1 AND 1000),
    embedding    real[]  NOT NULL CHECK (
        array_ndims(embedding) = 1
        AND cardinality(embedding) BETWEEN 1 AND 8192
        AND array_position(embedding, NULL) IS NULL
    ),
    UNIQUE (document_id, ordinal)
);
CREATE INDEX document_chunks_server ON document_chunks (server_id, document_id);

-- Bumped in the transaction of every document change, so a process that keeps a server's
-- vectors in memory sees another process's change with one cheap read. Its row lock also
-- serialises concurrent additions, so the per-server limits hold under concurrency.
CREATE TABLE document_generations (
    server_id   bigint PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    generation  bigint NOT NULL DEFAULT 0
);

ALTER TABLE server_embedding_models ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON server_embedding_models USING (server_id = tomori_current_server());
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON documents USING (server_id = tomori_current_server());
ALTER TABLE document_chunks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON document_chunks USING (server_id = tomori_current_server());
ALTER TABLE document_generations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON document_generations USING (server_id = tomori_current_server());

GRANT SELECT, INSERT, UPDATE, DELETE ON server_embedding_models TO tomori_app;
GRANT SELECT, INSERT, DELETE ON documents, document_chunks TO tomori_app;
GRANT SELECT, INSERT, UPDATE ON document_generations TO tomori_app;
