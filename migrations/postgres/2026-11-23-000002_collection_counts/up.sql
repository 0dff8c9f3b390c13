-- Record counts of each tenant's unfiltered collections, kept in the same
-- transaction as every insert, so that a plain list answers `record_count`
-- without counting every row.
CREATE TABLE collection_counts (
    organization_id TEXT COLLATE "C" NOT NULL,
    mode TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    record_count BIGINT NOT NULL CHECK (record_count >= 0),
    PRIMARY KEY (organization_id, mode, resource_type)
);

INSERT INTO collection_counts (organization_id, mode, resource_type, record_count)
SELECT organization_id, mode, 'orders', COUNT(*) FROM orders GROUP BY organization_id, mode;
INSERT INTO collection_counts (organization_id, mode, resource_type, record_count)
SELECT organization_id, mode, 'authorizations', COUNT(*) FROM authorizations GROUP BY organization_id, mode;
INSERT INTO collection_counts (organization_id, mode, resource_type, record_count)
SELECT organization_id, mode, 'captures', COUNT(*) FROM captures GROUP BY organization_id, mode;
INSERT INTO collection_counts (organization_id, mode, resource_type, record_count)
SELECT organization_id, mode, 'refunds', COUNT(*) FROM refunds GROUP BY organization_id, mode;
INSERT INTO collection_counts (organization_id, mode, resource_type, record_count)
SELECT organization_id, mode, 'refund_captures', COUNT(*) FROM refund_captures GROUP BY organization_id, mode;
