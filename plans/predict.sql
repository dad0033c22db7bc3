-- predict: silver windows of one day -> the CNN fault classifier -> gold.
--
-- Parameters, bound by type by `pvflow run` (never spliced into this text):
--   $run_id           VARCHAR  the run writing these rows
--   $rated_power_w    DOUBLE   an array's DC power at STC ([plant] rated_power_w), for devices
--                              the plant description does not list
--   $gamma_pdc_per_c  DOUBLE   its power temperature coefficient ([plant] gamma_pdc_per_c), likewise
-- Tables the runner registers: `silver`, that day's silver partition. Every session has
-- `devices`, the plant description's nameplates (empty without one).
-- Output: gold, partitioned by `date` (the date of window_start, UTC).
--
-- pv_fault_classify over the four series images each window and classifies it in one pass,
-- 128 windows at a time: no image is kept or written. Windows without a scalogram (too few
-- valid readings, pv_scalogram's rules) get a NULL diagnosis and are not in gold; the run
-- manifest counts them. A window whose readings cannot be trusted (silver's quality_flags, in
-- pvanalytics' vocabulary) keeps the network's probabilities but gets no fault_code or
-- fault_label: a stuck or failing sensor is not a PV fault. Beside the diagnosis, each window's
-- mean irradiance and its measured
-- and expected (PVWatts, by its own array's nameplate) DC power: what its fault costs, and what
-- episodes add up.
--
-- The struct is expanded with unnest, not read field by field (`diagnosis.fault_code`, ...):
-- DataFusion 55's leaf-projection pushdown inlines each field access into the scan as its own
-- pv_fault_classify call, which ran the CNN four times per window (apache/datafusion#23655).
SELECT device_id,
       window_start,
       CAST(window_start AS DATE) AS date,
       CASE WHEN cardinality(quality_flags) = 0 THEN "diagnosis.fault_code" END AS fault_code,
       CASE WHEN cardinality(quality_flags) = 0 THEN "diagnosis.fault_label" END AS fault_label,
       "diagnosis.probabilities" AS probabilities,
       "diagnosis.model_version" AS model_version,
       quality_flags,
       irradiance_mean,
       measured_power_w,
       expected_power_w,
       $run_id AS run_id
FROM (SELECT device_id, window_start, quality_flags, irradiance_mean, measured_power_w,
             expected_power_w, unnest(diagnosis)
      FROM (SELECT device_id, window_start, quality_flags,
                   pv_fault_classify(voltage_series, current_series, temperature_series,
                                     irradiance_series) AS diagnosis,
                   pv_series_mean(irradiance_series) AS irradiance_mean,
                   pv_dc_power(voltage_series, current_series) AS measured_power_w,
                   pv_expected_dc_power(irradiance_series, temperature_series,
                                        COALESCE(devices.rated_power_w, $rated_power_w),
                                        COALESCE(devices.gamma_pdc_per_c, $gamma_pdc_per_c))
                     AS expected_power_w
            FROM silver LEFT JOIN devices USING (device_id)))
WHERE "diagnosis.fault_code" IS NOT NULL
