-- The MySQL table of the ETL pipeline, created by its owner (the sink does
-- not create it: create_table is off), with a rule the database enforces.
CREATE TABLE IF NOT EXISTS etl_orders (
    order_id BIGINT PRIMARY KEY,
    name VARCHAR(100),
    country CHAR(2) NOT NULL,
    amount DOUBLE,
    day DATE NOT NULL,
    CONSTRAINT amount_positive CHECK (amount > 0)
);
