-- The example's tables, made afresh (run before the pipelines). The ETL
-- pipeline creates s3_students itself; the ELT one loads s3_students_raw
-- (made here, with an id and a flag the SQL of elt.toml uses) and its SQL
-- fills s3_students_elt.
DROP TABLE IF EXISTS s3_students, s3_students_raw, s3_students_elt;
CREATE TABLE s3_students_raw (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    value TEXT NOT NULL,
    transformed BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE s3_students_elt (
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    age INT NOT NULL,
    field TEXT NOT NULL
);
-- Each run starts from nothing (the checkpoints are in the S3 server's
-- memory): forget the epochs earlier runs committed.
CREATE TABLE IF NOT EXISTS weir_epochs (sink_id VARCHAR(255) NOT NULL PRIMARY KEY, epoch BIGINT NOT NULL);
DELETE FROM weir_epochs WHERE sink_id LIKE 's3-mysql%';
