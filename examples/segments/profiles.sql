-- The customer profiles the segments pipeline enriches its events with,
-- made afresh (run before the pipeline): users 1..900 have one, users
-- 901..1000 (the generator's last hundred) have none, so the left join
-- counts their events under a null segment.
DROP TABLE IF EXISTS customer_profiles, segment_hourly;
CREATE TABLE customer_profiles (
    user_id INTEGER PRIMARY KEY,
    segment TEXT NOT NULL,
    country CHAR(2) NOT NULL
);
INSERT INTO customer_profiles
SELECT g,
       (ARRAY['consumer', 'smb', 'enterprise'])[1 + g % 3],
       (ARRAY['KR', 'FR', 'DE', 'US', 'BR'])[1 + g % 5]
FROM generate_series(1, 900) AS g;
-- Each run starts from nothing (the checkpoints are deleted with out/):
-- forget the epochs earlier runs committed.
CREATE TABLE IF NOT EXISTS weir_epochs (sink_id TEXT PRIMARY KEY, epoch BIGINT NOT NULL);
DELETE FROM weir_epochs WHERE sink_id LIKE 'segments/%';
