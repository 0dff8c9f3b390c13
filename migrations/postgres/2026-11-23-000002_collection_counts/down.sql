DROP TABLE collection_counts;
