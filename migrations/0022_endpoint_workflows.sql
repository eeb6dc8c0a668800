-- A ComfyUI workflow for a server's custom endpoint (`/provider endpoint workflow`): the endpoint
-- is then a ComfyUI server, and pictures drawn through it run this workflow with the prompt,
-- seed and size filled in. The workflow was checked by tomori_llm::ComfyWorkflow::parse (size,
-- nodes, links, denied node types, placeholders) before it was stored; it is read when a picture
-- is asked for, never by a turn's plan.
-- Security: cross-tenant references. The endpoint must belong to the same server: the foreign
-- key covers (server_id, endpoint_id).
ALTER TABLE custom_endpoints ADD CONSTRAINT custom_endpoints_server_id_id UNIQUE (server_id, id);

CREATE TABLE endpoint_workflows (
    endpoint_id bigint PRIMARY KEY,
    server_id   bigint NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    workflow    jsonb  NOT NULL CHECK (octet_length(workflow::text) <= 262144),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (server_id, endpoint_id) REFERENCES custom_endpoints (server_id, id) ON DELETE CASCADE
);
CREATE INDEX endpoint_workflows_server ON endpoint_workflows (server_id);

ALTER TABLE endpoint_workflows ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON endpoint_workflows USING (server_id = tomori_current_server());
GRANT SELECT, INSERT, UPDATE, DELETE ON endpoint_workflows TO tomori_app;
