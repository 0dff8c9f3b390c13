CREATE TABLE collection_counts (
    organization_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    record_count BIGINT NOT NULL CHECK (record_count >= 0),
    PRIMARY KEY (organization_id, mode, resource_type)
);

INSERT INTO collection_counts (organization_id, mode, resource_type, record_count)
SELECT organization_id, mode, resource_type, SUM(record_count)
FROM record_counts GROUP BY organization_id, mode, resource_type;

DROP TABLE record_counts;
