-- Webhooks: callback URLs subscribed to an event name (a topic) of their tenant.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    name TEXT,
    topic TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    include_resources TEXT NOT NULL DEFAULT '[]',
    shared_secret TEXT NOT NULL,
    circuit_state TEXT NOT NULL DEFAULT 'closed' CHECK (circuit_state IN ('closed', 'open')),
    circuit_failure_count BIGINT NOT NULL DEFAULT 0,
    disabled_at TIMESTAMP,
    reference TEXT,
    reference_origin TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhooks_topic ON webhooks (organization_id, mode, topic);
CREATE INDEX webhooks_created_at ON webhooks (organization_id, mode, created_at DESC, id);

-- Every attempt to call a webhook, successful or not.
CREATE TABLE event_callbacks (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    webhook_id TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    payload TEXT NOT NULL,
    response_code BIGINT,
    response_message TEXT,
    attempt BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX event_callbacks_webhook ON event_callbacks (webhook_id, created_at DESC, id);
CREATE INDEX event_callbacks_created_at ON event_callbacks (organization_id, mode, created_at DESC, id);

-- The outbox: one delivery per event and subscribed webhook, written in the event's
-- transaction. `pending` until a 2xx answer (`sent`) or the last attempt (`failed`).
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    leased_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at, id);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, status, created_at, id);
