-- ingest: one day (or any range) of readings from Kafka -> windows -> scalograms -> silver.
--
-- Parameters, bound by type by `pvflow run` (never spliced into this text):
--   $start   TIMESTAMP  first reading time read (inclusive), on the window grid
--   $end     TIMESTAMP  end of the range (exclusive), on the window grid
--   $run_id  VARCHAR    the run writing these rows
-- Tables the runner registers: `readings`, the Kafka topic ([kafka] brokers and topic).
-- Output: silver, partitioned by `date` (the date of window_start, UTC).
--
-- Windows: 64 readings of 20 s = 1280 s, aligned to the epoch, so re-runs give the same windows
-- and every reading belongs to exactly one window and every window to one date. A window with
-- too few valid readings keeps its row (its readings are accounted for) with a NULL scalogram
-- (docs/udfs.md, pv_scalogram rule 5). pv_window_series places each reading in its slot as it
-- arrives (the earliest of duplicates wins), so no window's readings are held or sorted.
SELECT device_id,
       window_start,
       CAST(window_start AS DATE) AS date,
       count(*) AS readings,
       avg(voltage) AS voltage_mean,
       avg(current) AS current_mean,
       avg(temperature) AS temperature_mean,
       avg(irradiance) AS irradiance_mean,
       pv_scalogram(pv_window_series(slot, ts, voltage), pv_window_series(slot, ts, current),
                    pv_window_series(slot, ts, temperature),
                    pv_window_series(slot, ts, irradiance)) AS scalogram,
       $run_id AS run_id
FROM (SELECT *,
             date_bin(INTERVAL '1280 seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z') AS window_start,
             (to_unixtime(ts) - to_unixtime(date_bin(INTERVAL '1280 seconds', ts,
                                                     TIMESTAMP '1970-01-01T00:00:00Z'))) / 20 AS slot
      FROM readings
      WHERE ts >= $start AND ts < $end)
GROUP BY device_id, window_start
