DROP TABLE refund_captures;
DROP TABLE refunds;
DROP TABLE captures;
DROP TABLE authorizations;
DROP TABLE orders;
