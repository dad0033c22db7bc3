-- Scalograms of silver's windows (docs/udfs.md): silver keeps each window's four 64-slot
-- series, and pv_scalogram turns them into the CNN's 4x64x64 image where one is needed, with
-- the normalisation of the model it is compared with.
-- Run after `make demo`:
--   PVFLOW_STORAGE_SILVER=target/demo/silver PVFLOW_MODEL_NORMALIZATION=models/normalization.json \
--     target/debug/pvflow sql -f examples/silver_scalograms.sql

-- Device pv-00042's first daylight windows: how many readings each holds, and two of its image's
-- coefficients (current at scale 1, irradiance at scale 64, mid-window).
SELECT device_id, window_start, readings,
       round(scalogram[64 * 64 + 32], 3) AS current_scale1,
       round(scalogram[3 * 64 * 64 + 63 * 64 + 32], 3) AS irradiance_scale64
FROM (SELECT device_id, window_start, readings,
             pv_scalogram(voltage_series, current_series, temperature_series,
                          irradiance_series) AS scalogram
      FROM silver
      WHERE date = DATE '2026-06-01' AND device_id = 'pv-00042' AND irradiance_mean > 100)
ORDER BY window_start
LIMIT 5;
