-- predict: silver windows of one day -> the CNN fault classifier -> gold.
--
-- Parameters, bound by type by `pvflow run` (never spliced into this text):
--   $run_id           VARCHAR  the run writing these rows
--   $rated_power_w    DOUBLE   an array's DC power at STC ([plant] rated_power_w), for devices
--                              the plant description does not list
--   $gamma_pdc_per_c  DOUBLE   its power temperature coefficient ([plant] gamma_pdc_per_c), likewise
--   $v_mp, $i_mp      DOUBLE   its maximum-power voltage and current at STC ([plant] v_mp, i_mp),
--                              likewise: a model normalised by nameplate or operating point
--                              divides the series by them (and by gamma, with light and heat)
-- Tables the runner registers: `silver`, that day's silver partition. Every session has
-- `devices`, the plant description's nameplates (empty without one).
-- Output: gold, partitioned by `date` (the date of window_start, UTC).
--
-- pv_fault_classify over the four series images each window and classifies it in one pass,
-- 128 windows at a time: no image is kept or written. Windows without a scalogram (too few
-- valid readings, pv_scalogram's rules) get a NULL diagnosis and are not in gold; the run
-- manifest counts them. Beside the diagnosis, each window's mean irradiance and its measured
-- and expected (PVWatts, by its own array's nameplate) DC power: what its fault costs, and what
-- episodes add up.
--
-- A window whose readings cannot be trusted keeps the network's probabilities but gets no
-- fault_code or fault_label: a failing sensor is not a PV fault. Its quality_flags are
-- silver's (pvanalytics' checks of each series) and three of what the physics allow
-- (docs/data-quality.md): `irradiance_inconsistent` when the array gives over 15 % more
-- power than PVWatts allows for the irradiance read (no PV fault adds power: the irradiance
-- sensor reads low), `temperature_inconsistent` when the module temperature is over 3 C
-- from the median of the window's arrays of its type (3 or more: sensors of one design at
-- one site read alike), and `irradiance_sun_inconsistent` when 3 or more readings see light
-- while the sun is down at the device's site (listed devices only).
--
-- Every join keeps silver on its right: a hash join holds its left (build) side whole and
-- cannot spill, so the small sides (`devices`, the fleet's temperatures per window and type)
-- are built and silver's series stream through (a day of 100,000 devices is 6.7 GB of them).
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
FROM (SELECT device_id, window_start, irradiance_mean, measured_power_w, expected_power_w,
             array_concat(
               silver_flags,
               CASE WHEN expected_power_w > 0.05 * rated_power_w
                         AND measured_power_w > 1.15 * expected_power_w
                    THEN make_array('irradiance_inconsistent') END,
               CASE WHEN fleet_devices >= 3 AND abs(temperature_mean - fleet_temperature) > 3
                    THEN make_array('temperature_inconsistent') END,
               CASE WHEN light_at_night >= 3
                    THEN make_array('irradiance_sun_inconsistent') END) AS quality_flags,
             unnest(diagnosis)
      FROM (SELECT silver.device_id, silver.window_start, silver.quality_flags AS silver_flags,
                   temperature_mean,
                   pv_irradiance_at_night(irradiance_series, silver.window_start,
                                          devices.latitude, devices.longitude) AS light_at_night,
                   fleet.fleet_temperature, fleet.fleet_devices,
                   COALESCE(devices.rated_power_w, $rated_power_w) AS rated_power_w,
                   pv_fault_classify(voltage_series, current_series, temperature_series,
                                     irradiance_series,
                                     COALESCE(devices.v_mp, $v_mp),
                                     COALESCE(devices.i_mp, $i_mp),
                                     COALESCE(devices.gamma_pdc_per_c, $gamma_pdc_per_c))
                     AS diagnosis,
                   pv_series_mean(irradiance_series) AS irradiance_mean,
                   pv_dc_power(voltage_series, current_series) AS measured_power_w,
                   pv_expected_dc_power(irradiance_series, temperature_series,
                                        COALESCE(devices.rated_power_w, $rated_power_w),
                                        COALESCE(devices.gamma_pdc_per_c, $gamma_pdc_per_c))
                     AS expected_power_w
            FROM (SELECT s.window_start, COALESCE(d.array_type, '') AS array_type,
                         median(s.temperature_mean) AS fleet_temperature,
                         count(*) AS fleet_devices
                  FROM devices d RIGHT JOIN silver s ON s.device_id = d.device_id
                  GROUP BY 1, 2) fleet
            RIGHT JOIN (devices RIGHT JOIN silver ON silver.device_id = devices.device_id)
              ON silver.window_start = fleet.window_start
             AND COALESCE(devices.array_type, '') = fleet.array_type))
WHERE "diagnosis.fault_code" IS NOT NULL
