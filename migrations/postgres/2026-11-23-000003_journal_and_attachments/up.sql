-- What a refund was asked against (capture, authorization or order), so a declined
-- refund forwarded later draws on the same captures; and a digest of the creating
-- request, so a repeated idempotency key can be told apart from a reused one.
ALTER TABLE refunds ADD COLUMN target_type TEXT COLLATE "C" NOT NULL DEFAULT 'capture'
    CHECK (target_type IN ('capture', 'authorization', 'order'));
ALTER TABLE refunds ADD COLUMN request_hash TEXT COLLATE "C" NOT NULL DEFAULT '';

-- The journal: one version per change of a refund, capture, authorization or order.
CREATE TABLE versions (
    id TEXT COLLATE "C" PRIMARY KEY,
    organization_id TEXT COLLATE "C" NOT NULL,
    mode TEXT COLLATE "C" NOT NULL CHECK (mode IN ('test', 'live')),
    order_id TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    event TEXT COLLATE "C" NOT NULL CHECK (event IN ('create', 'update', 'destroy')),
    changes TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    who TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX versions_resource ON versions (resource_id, created_at, id);
CREATE INDEX versions_created_at ON versions (organization_id, mode, created_at, id);

-- What happened, for subscribers: refunds.create, captures.refund, ...
CREATE TABLE events (
    id TEXT COLLATE "C" PRIMARY KEY,
    organization_id TEXT COLLATE "C" NOT NULL,
    mode TEXT COLLATE "C" NOT NULL CHECK (mode IN ('test', 'live')),
    order_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_resource ON events (resource_id, created_at, id);
CREATE INDEX events_created_at ON events (organization_id, mode, created_at DESC, id);

-- Files or links attached to a refund, capture or order.
CREATE TABLE attachments (
    id TEXT COLLATE "C" PRIMARY KEY,
    organization_id TEXT COLLATE "C" NOT NULL,
    mode TEXT COLLATE "C" NOT NULL CHECK (mode IN ('test', 'live')),
    order_id TEXT COLLATE "C" NOT NULL,
    attachable_type TEXT COLLATE "C" NOT NULL CHECK (attachable_type IN ('refunds', 'captures', 'orders')),
    attachable_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C",
    url TEXT COLLATE "C",
    reference TEXT COLLATE "C",
    reference_origin TEXT COLLATE "C",
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX attachments_attachable ON attachments (attachable_id, created_at, id);
CREATE INDEX attachments_created_at ON attachments (organization_id, mode, created_at DESC, id);
