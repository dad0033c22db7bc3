-- An example of the windowing idiom (docs/udfs.md) over a Parquet file of simulated readings.
-- The first statement writes a small plant's synthetic readings to
-- target/example/readings.parquet. They are read back as a table, windowed on the fixed
-- 64-reading grid and turned into 4x64x64 scalograms. This is not the main job: that is
-- plans/ingest.sql and plans/predict.sql (`pvflow run`, `make demo`).
-- Run: pvflow sql -f examples/scalograms.sql

-- Six devices x one day at 20 s. Device pv-004's string opens from 10:00 (current drops to ~0,
-- voltage rises towards open circuit); pv-005 loses readings now and then (sensor gaps).
COPY (
  SELECT 'pv-00' || d AS device_id,
         to_timestamp_seconds(1767225600 + i * 20) AS ts,
         CAST(CASE WHEN d = 4 AND i >= 1800 THEN 560 ELSE 450 + 20 * sin(i / 300.0) END
              + (((i * 7919 + d * 104729) % 1000) / 1000.0) * 2 AS FLOAT) AS voltage,
         CAST(CASE WHEN d = 4 AND i >= 1800 THEN 0.05
                   ELSE greatest(0, 8 * sin(pi() * i / 4320)) END + (((i * 7919 + d * 104729) % 1000) / 1000.0) * 0.1 AS FLOAT) AS current,
         CAST(20 + 25 * greatest(0, sin(pi() * i / 4320)) + (((i * 7919 + d * 104729) % 1000) / 1000.0) AS FLOAT) AS temperature,
         CAST(greatest(0, 1000 * sin(pi() * i / 4320)) + (((i * 7919 + d * 104729) % 1000) / 1000.0) * 5 AS FLOAT) AS irradiance
  FROM unnest(range(0, 6)) AS devices(d) CROSS JOIN unnest(range(0, 4320)) AS samples(i)
  WHERE NOT (d = 5 AND i % 97 = 0)
) TO 'target/example/readings.parquet' STORED AS PARQUET;

CREATE EXTERNAL TABLE readings STORED AS PARQUET LOCATION 'target/example/readings.parquet';

-- The windowing idiom (docs/udfs.md): 1280 s = 64 readings of 20 s, aligned to the epoch so that
-- re-runs give the same windows; `slot` places each reading in its window.
CREATE VIEW windows AS
SELECT device_id, window_start, count(*) AS readings,
       pv_scalogram(pv_window_series(slot, ts, voltage), pv_window_series(slot, ts, current),
                    pv_window_series(slot, ts, temperature), pv_window_series(slot, ts, irradiance)) AS scalogram
FROM (SELECT *,
             date_bin(INTERVAL '1280 seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z') AS window_start,
             (to_unixtime(ts) - to_unixtime(date_bin(INTERVAL '1280 seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z'))) / 20 AS slot
      FROM readings)
GROUP BY device_id, window_start;

-- One line per device: windows, complete scalograms, and the mean magnitude of the current
-- channel's coefficients at the smallest and largest scale over the 10:00-12:00 windows, where
-- the open circuit of pv-004 shows.
SELECT device_id,
       count(*) AS windows,
       count(scalogram) AS scalograms,
       sum(readings) AS readings,
       round(avg(abs(scalogram[64 * 64 + 32])) FILTER (WHERE extract(hour FROM window_start) BETWEEN 10 AND 11), 3)
         AS current_scale1,
       round(avg(abs(scalogram[64 * 64 + 63 * 64 + 32])) FILTER (WHERE extract(hour FROM window_start) BETWEEN 10 AND 11), 3)
         AS current_scale64
FROM windows
GROUP BY device_id
ORDER BY device_id;
