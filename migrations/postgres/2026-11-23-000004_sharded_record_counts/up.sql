-- One counter row per tenant and type made every write of a tenant queue on that row's
-- lock until commit. Each write now adds to one of 16 shards picked at random, and a
-- count is the sum of the shards. A shard may go negative after deletes; sums do not.
CREATE TABLE record_counts (
    organization_id TEXT COLLATE "C" NOT NULL,
    mode TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    shard INTEGER NOT NULL CHECK (shard >= 0 AND shard < 16),
    record_count BIGINT NOT NULL,
    PRIMARY KEY (organization_id, mode, resource_type, shard)
);

INSERT INTO record_counts (organization_id, mode, resource_type, shard, record_count)
SELECT organization_id, mode, resource_type, 0, record_count FROM collection_counts;

DROP TABLE collection_counts;
