-- quarantine: one day's malformed Kafka messages -> silver's quarantine (silver/_quarantine/).
-- Ingest runs it beside plans/ingest.sql, on the same Kafka offsets, and publishes both together.
--
-- Parameters, bound by type by `pvflow run` (never spliced into this text):
--   $start   TIMESTAMP  first Kafka timestamp read (inclusive), as ingest's range
--   $end     TIMESTAMP  end of the range (exclusive)
--   $date    DATE       the run's day
-- Tables the runner registers: `readings_quarantine`, the Kafka table of ingest's `readings` at
-- the same offsets, with its quarantine option on (partition, offset, Kafka timestamp, key,
-- payload and the reason each message is not a reading).
-- Output: the quarantine, partitioned by `date`. A malformed message has no reading time to
-- window it by, so its Kafka timestamp chooses the day.
SELECT *, CAST($date AS DATE) AS date
FROM readings_quarantine
WHERE _kafka_timestamp >= $start AND _kafka_timestamp < $end
