-- ingest: one day (or any range) of readings from Kafka -> 64-reading windows -> silver.
--
-- Parameters, bound by type by `pvflow run` (never spliced into this text):
--   $start   TIMESTAMP  first reading time read (inclusive), on the window grid
--   $end     TIMESTAMP  end of the range (exclusive), on the window grid
--   $run_id  VARCHAR    the run writing these rows
-- Tables the runner registers: `readings`, the Kafka topic ([kafka] brokers and topic).
-- Output: silver, partitioned by `date` (the date of window_start, UTC).
--
-- Windows: 64 readings of 20 s = 1280 s, aligned to the epoch, so re-runs give the same windows
-- and every reading belongs to exactly one window and every window to one date. Silver keeps
-- each window's four series on its 64 slots (about 1 KiB), not its scalogram (64 KiB):
-- predict images and classifies them in one pass, and analysts image them with pv_scalogram.
-- pv_window_series places each reading in its slot as it arrives (the earliest of duplicates
-- wins, an empty slot is NULL), so no window's readings are held or sorted. quality_flags names,
-- in pvanalytics' vocabulary, why a window's readings cannot be trusted (stale or interpolated
-- runs, values out of physical range, missing readings; docs/data-quality.md), and
-- `conflicting_timestamps` when a window holds far more readings than its 64 slots (a logger
-- whose clock jumped reports over its own true readings): predict gives such windows no
-- diagnosis.
SELECT *,
       pv_quality_flags(voltage_series, current_series, temperature_series, irradiance_series,
                        readings) AS quality_flags,
       $run_id AS run_id
FROM (
SELECT device_id,
       window_start,
       CAST(window_start AS DATE) AS date,
       count(*) AS readings,
       avg(voltage) AS voltage_mean,
       avg(current) AS current_mean,
       avg(temperature) AS temperature_mean,
       avg(irradiance) AS irradiance_mean,
       pv_window_series(slot, ts, voltage) AS voltage_series,
       pv_window_series(slot, ts, current) AS current_series,
       pv_window_series(slot, ts, temperature) AS temperature_series,
       pv_window_series(slot, ts, irradiance) AS irradiance_series
FROM (SELECT *,
             date_bin(INTERVAL '1280 seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z') AS window_start,
             (to_unixtime(ts) - to_unixtime(date_bin(INTERVAL '1280 seconds', ts,
                                                     TIMESTAMP '1970-01-01T00:00:00Z'))) / 20 AS slot
      FROM readings
      WHERE ts >= $start AND ts < $end)
GROUP BY device_id, window_start)
