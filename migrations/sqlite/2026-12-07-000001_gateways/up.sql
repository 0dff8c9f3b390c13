-- Gateways: each capture names the gateway its refunds go through, and a refund is made
-- in parts (refund_captures) that are reserved, executed at that gateway and settled.
ALTER TABLE captures ADD COLUMN gateway TEXT NOT NULL DEFAULT 'test' CHECK (gateway IN ('test', 'stripe'));

ALTER TABLE refunds ADD COLUMN status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'succeeded', 'partially_succeeded', 'failed'));
ALTER TABLE refunds ADD COLUMN refunded_amount_cents BIGINT NOT NULL DEFAULT 0;
-- Refunds made before parts had statuses either moved all their money or none.
UPDATE refunds SET
    status = CASE WHEN succeeded THEN 'succeeded' ELSE 'failed' END,
    refunded_amount_cents = CASE WHEN succeeded THEN amount_cents ELSE 0 END;
CREATE INDEX refunds_status ON refunds (organization_id, mode, status, created_at DESC, id);

ALTER TABLE refund_captures ADD COLUMN status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'succeeded', 'failed'));
ALTER TABLE refund_captures ADD COLUMN gateway TEXT NOT NULL DEFAULT 'test';
ALTER TABLE refund_captures ADD COLUMN gateway_transaction_id TEXT;
ALTER TABLE refund_captures ADD COLUMN error_code TEXT;
ALTER TABLE refund_captures ADD COLUMN message TEXT;
-- When the reconciler last took the part: it is taken again only `reconcile_after_ms` later.
ALTER TABLE refund_captures ADD COLUMN checked_at TIMESTAMP;
-- Parts that existed before were those of refunds that succeeded.
UPDATE refund_captures SET status = 'succeeded';
CREATE INDEX refund_captures_pending ON refund_captures (created_at) WHERE status = 'pending';
CREATE INDEX refund_captures_gateway_transaction_id ON refund_captures (gateway_transaction_id);
