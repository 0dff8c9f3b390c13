-- Same tables, names and indexes as the PostgreSQL set, in SQLite's dialect.
-- Text compares bytewise by default here; metadata containment uses the
-- json_contains function the application registers on each connection.

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    number TEXT NOT NULL,
    currency_code TEXT NOT NULL,
    customer_email TEXT,
    customer_id TEXT,
    market_id TEXT,
    total_amount_cents BIGINT NOT NULL CHECK (total_amount_cents >= 0),
    shipping_amount_cents BIGINT NOT NULL DEFAULT 0 CHECK (shipping_amount_cents >= 0),
    payment_status TEXT NOT NULL,
    transactions_count INTEGER NOT NULL DEFAULT 0,
    reference TEXT,
    reference_origin TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX orders_number_key ON orders (organization_id, mode, number);
CREATE INDEX orders_created_at ON orders (organization_id, mode, created_at DESC, id);
CREATE INDEX orders_customer ON orders (organization_id, mode, customer_id);

CREATE TABLE authorizations (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    order_id TEXT NOT NULL REFERENCES orders (id),
    number TEXT NOT NULL,
    currency_code TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    succeeded BOOLEAN NOT NULL,
    payment_method_type TEXT,
    message TEXT,
    error_code TEXT,
    error_detail TEXT,
    token TEXT,
    gateway_transaction_id TEXT,
    reference TEXT,
    reference_origin TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX authorizations_order ON authorizations (order_id);
CREATE INDEX authorizations_created_at ON authorizations (organization_id, mode, created_at DESC, id);

CREATE TABLE captures (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    order_id TEXT NOT NULL REFERENCES orders (id),
    authorization_id TEXT NOT NULL REFERENCES authorizations (id),
    number TEXT NOT NULL,
    currency_code TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    refund_amount_cents BIGINT NOT NULL DEFAULT 0,
    refund_balance_cents BIGINT NOT NULL,
    succeeded BOOLEAN NOT NULL,
    payment_method_type TEXT,
    message TEXT,
    error_code TEXT,
    error_detail TEXT,
    token TEXT,
    gateway_transaction_id TEXT,
    reference TEXT,
    reference_origin TEXT,
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
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    order_id TEXT NOT NULL REFERENCES orders (id),
    reference_capture_id TEXT REFERENCES captures (id),
    authorization_id TEXT REFERENCES authorizations (id),
    number TEXT NOT NULL,
    key TEXT NOT NULL,
    currency_code TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    succeeded BOOLEAN NOT NULL,
    payment_method_type TEXT,
    message TEXT,
    error_code TEXT,
    error_detail TEXT,
    token TEXT,
    gateway_transaction_id TEXT,
    reference TEXT,
    reference_origin TEXT,
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

CREATE TABLE refund_captures (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    order_id TEXT NOT NULL REFERENCES orders (id),
    refund_id TEXT NOT NULL REFERENCES refunds (id),
    capture_id TEXT NOT NULL REFERENCES captures (id),
    currency_code TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX refund_captures_refund ON refund_captures (refund_id);
CREATE INDEX refund_captures_capture ON refund_captures (capture_id);
CREATE INDEX refund_captures_created_at ON refund_captures (organization_id, mode, created_at DESC, id);
