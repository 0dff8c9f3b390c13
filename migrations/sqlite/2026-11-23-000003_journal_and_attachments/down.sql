DROP TABLE attachments;
DROP TABLE events;
DROP TABLE versions;
ALTER TABLE refunds DROP COLUMN request_hash;
ALTER TABLE refunds DROP COLUMN target_type;
