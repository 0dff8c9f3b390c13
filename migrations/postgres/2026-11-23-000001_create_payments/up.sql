-- Text columns use the "C" collation so that sorting and comparisons are
-- bytewise, exactly as on SQLite, whatever the database's locale.
-- Timestamps are UTC without a zone; metadata is JSON text, searched through
-- a jsonb expression index.

CREATE TABLE orders (
    id TEXT COLLATE "C" PRIMARY KEY,
    organization_id TEXT COLLATE "C" NOT NULL,
    mode TEXT COLLATE "C" NOT NULL CHECK (mode IN ('test', 'live')),
    number TEXT COLLATE "C" NOT NULL,
    currency_code TEXT COLLATE "C" NOT NULL,
    customer_email TEXT COLLATE "C",
    customer_id TEXT COLLATE "C",
    market_id TEXT COLLATE "C",
    total_amount_cents BIGINT NOT NULL CHECK (total_amount_cents >= 0),
    shipping_amount_cents BIGINT NOT NULL DEFAULT 0 CHECK (shipping_amount_cents >= 0),
    payment_status TEXT COLLATE "C" NOT NULL,
    transactions_count INTEGER NOT NULL DEFAULT 0,
    reference TEXT COLLATE "C",
    reference_origin TEXT COLLATE "C",
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX orders_number_key ON orders (organization_id, mode, number);
CREATE INDEX orders_created_at ON orders (organization_id, mode, created_at DESC, id);
CREATE INDEX orders_customer ON orders (organization_id, mode, customer_id);
CREATE INDEX orders_metadata ON orders USING gin ((metadata::jsonb) jsonb_path_ops);

CREATE TABLE authorizations (
    id TEXT COLLATE "C" PRIMARY KEY,
    organization_id TEXT COLLATE "C" NOT NULL,
    mode TEXT COLLATE "C" NOT NULL CHECK (mode IN ('test', 'live')),
    order_id TEXT COLLATE "C" NOT NULL REFERENCES orders (id),
    number TEXT COLLATE "C" NOT NULL,
    currency_code TEXT COLLATE "C" NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    succeeded BOOLEAN NOT NULL,
    payment_method_type TEXT COLLATE "C",
    message TEXT COLLATE "C",
    error_code TEXT COLLATE "C",
    error_detail TEXT COLLATE "C",
    token TEXT COLLATE "C",
    gateway_transaction_id TEXT COLLATE "C",
    reference TEXT COLLATE "C",
    reference_origin TEXT COLLATE "C",
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX authorizations_order ON authorizations (order_id);
CREATE INDEX authorizations_created_at ON authorizations (organization_id, mode, created_at DESC, id);

CREATE TABLE captures (
    id TEXT COLLATE "C" PRIMARY KEY,
    organization_id TEXT COLLATE "C" NOT NULL,
    mode TEXT COLLATE "C" NOT NULL CHECK (mode IN ('test', 'live')),
    order_id TEXT COLLATE "C" NOT NULL REFERENCES orders (id),
    authorization_id TEXT COLLATE "C" NOT NULL REFERENCES authorizations (id),
    number TEXT COLLATE "C" NOT NULL,
    currency_code TEXT COLLATE "C" NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    refund_amount_cents BIGINT NOT NULL DEFAULT 0,
    refund_balance_cents BIGINT NOT NULL,
    succeeded BOOLEAN NOT NULL,
    payment_method_type TEXT COLLATE "C",
    message TEXT COLLATE "C",
    error_code TEXT COLLATE "C",
    error_detail TEXT COLLATE "C",
    token TEXT COLLATE "C",
    gateway_transaction_id TEXT COLLATE "C",
    reference TEXT COLLATE "C",
    reference_origin TEXT COLLATE "C",
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (refund_amount_cents >= 0 AND refund_balance_cents >= 0
           AND refund_amount_cents + refund_balance_cents = amount_cents)
);
CREATE INDEX captures_order ON captures (order_id);
CREATE INDEX captures_authorization ON captures (authorization_id, created_at, id);
CREATE INDEX captures_created_at ON captures (organization_id, mode, created_at DESC, id);

CREATE TABLE refunds (
    id TEXT COLLATE "C" PRIMARY KEY,
    organization_id TEXT COLLATE "C" NOT NULL,
    mode TEXT COLLATE "C" NOT NULL CHECK (mode IN ('test', 'live')),
    order_id TEXT COLLATE "C" NOT NULL REFERENCES orders (id),
    reference_capture_id TEXT COLLATE "C" REFERENCES captures (id),
    authorization_id TEXT COLLATE "C" REFERENCES authorizations (id),
    number TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    currency_code TEXT COLLATE "C" NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    succeeded BOOLEAN NOT NULL,
    payment_method_type TEXT COLLATE "C",
    message TEXT COLLATE "C",
    error_code TEXT COLLATE "C",
    error_detail TEXT COLLATE "C",
    token TEXT COLLATE "C",
    gateway_transaction_id TEXT COLLATE "C",
    reference TEXT COLLATE "C",
    reference_origin TEXT COLLATE "C",
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX refunds_key ON refunds (organization_id, mode, key);
CREATE INDEX refunds_created_at ON refunds (organization_id, mode, created_at DESC, id);
CREATE INDEX refunds_updated_at ON refunds (organization_id, mode, updated_at, id);
CREATE INDEX refunds_number ON refunds (organization_id, mode, number, id);
CREATE INDEX refunds_amount ON refunds (organization_id, mode, amount_cents, id);
CREATE INDEX refunds_currency_amount ON refunds (organization_id, mode, currency_code, amount_cents, id);
CREATE INDEX refunds_reference ON refunds (organization_id, mode, reference, id);
CREATE INDEX refunds_reference_origin ON refunds (organization_id, mode, reference_origin, id);
CREATE INDEX refunds_order ON refunds (order_id, created_at);
CREATE INDEX refunds_capture ON refunds (reference_capture_id);
CREATE INDEX refunds_authorization ON refunds (authorization_id);
CREATE INDEX refunds_metadata ON refunds USING gin ((metadata::jsonb) jsonb_path_ops);

CREATE TABLE refund_captures (
    id TEXT COLLATE "C" PRIMARY KEY,
    organization_id TEXT COLLATE "C" NOT NULL,
    mode TEXT COLLATE "C" NOT NULL CHECK (mode IN ('test', 'live')),
    order_id TEXT COLLATE "C" NOT NULL REFERENCES orders (id),
    refund_id TEXT COLLATE "C" NOT NULL REFERENCES refunds (id),
    capture_id TEXT COLLATE "C" NOT NULL REFERENCES captures (id),
    currency_code TEXT COLLATE "C" NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX refund_captures_refund ON refund_captures (refund_id);
CREATE INDEX refund_captures_capture ON refund_captures (capture_id);
CREATE INDEX refund_captures_created_at ON refund_captures (organization_id, mode, created_at DESC, id);
