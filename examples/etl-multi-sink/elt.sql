-- The T of ELT, in the database: typed, cleaned orders from the raw lines,
-- the last line of each order winning, as the ETL pipeline's upsert does
-- (the raw table is loaded in input order by one COPY, so ctid follows it).
DROP TABLE IF EXISTS etl_orders_elt;
CREATE TABLE etl_orders_elt AS
WITH parsed AS (
    SELECT split_part(value, ',', 1) AS order_id,
           upper(split_part(value, ',', 2)) AS name,
           split_part(value, ',', 3) AS country,
           split_part(value, ',', 4) AS amount,
           split_part(value, ',', 5) AS day,
           ctid AS line
    FROM etl_raw_orders
    WHERE value NOT LIKE 'order_id,%'
), typed AS (
    SELECT order_id::bigint AS order_id, name, country,
           amount::double precision AS amount, day::date AS day, line
    FROM parsed
    WHERE amount ~ '^-?[0-9]+(\.[0-9]+)?$' AND amount::double precision > 0
)
SELECT DISTINCT ON (order_id) order_id, name, country, amount, day
FROM typed
ORDER BY order_id, line DESC;
