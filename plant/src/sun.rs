//! Where the sun is over a site: the Astronomical Almanac's low-precision formulas (about 0.01
//! degrees over 1950-2050), plenty for 20-s readings. The simulator lights its arrays with it;
//! the data-quality checks ask it whether a sensor can see the sun.
//!
//! ```
//! // Greenwich at noon on the June solstice: the sun 28 degrees from the zenith, due south.
//! let sun = pvflow_plant::sun::sun_position(1_750_507_320_000, 51.48, 0.0);
//! assert!((sun.zenith.to_degrees() - 28.04).abs() < 0.1);
//! assert!(sun.elevation_deg() > 61.0);
//! ```

const MS_PER_DAY: f64 = 86_400_000.0;
/// Julian date of the Unix epoch, and of J2000.0.
const JULIAN_DATE_UNIX_EPOCH: f64 = 2_440_587.5;
const JULIAN_DATE_J2000: f64 = 2_451_545.0;

/// Where the sun is: zenith angle and azimuth (clockwise from north), both in radians, and the
/// Earth-Sun distance in astronomical units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SunPosition {
    pub zenith: f64,
    pub azimuth: f64,
    pub distance_au: f64,
}

pub fn sun_position(unix_ms: i64, latitude_deg: f64, longitude_deg: f64) -> SunPosition {
    let days = unix_ms as f64 / MS_PER_DAY + JULIAN_DATE_UNIX_EPOCH - JULIAN_DATE_J2000;
    let mean_longitude = (280.460 + 0.985_647_4 * days).rem_euclid(360.0);
    let mean_anomaly = (357.528 + 0.985_600_3 * days)
        .rem_euclid(360.0)
        .to_radians();
    let ecliptic_longitude =
        (mean_longitude + 1.915 * mean_anomaly.sin() + 0.020 * (2.0 * mean_anomaly).sin())
            .to_radians();
    let obliquity = (23.439 - 0.000_000_4 * days).to_radians();
    let right_ascension =
        (obliquity.cos() * ecliptic_longitude.sin()).atan2(ecliptic_longitude.cos());
    let declination = (obliquity.sin() * ecliptic_longitude.sin()).asin();
    let ut_hours = (unix_ms as f64 / 3_600_000.0).rem_euclid(24.0);
    let sidereal_hours = (6.697_375 + 0.065_709_824_2 * days + ut_hours).rem_euclid(24.0);
    let hour_angle = (sidereal_hours * 15.0 + longitude_deg).to_radians() - right_ascension;
    let latitude = latitude_deg.to_radians();
    let cos_zenith =
        latitude.sin() * declination.sin() + latitude.cos() * declination.cos() * hour_angle.cos();
    let zenith = cos_zenith.clamp(-1.0, 1.0).acos();
    // Azimuth measured from south, westward positive, then turned to north-based.
    let from_south = hour_angle
        .sin()
        .atan2(hour_angle.cos() * latitude.sin() - declination.tan() * latitude.cos());
    let azimuth = (from_south + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU);
    let distance_au =
        1.000_14 - 0.016_71 * mean_anomaly.cos() - 0.000_14 * (2.0 * mean_anomaly).cos();
    SunPosition {
        zenith,
        azimuth,
        distance_au,
    }
}

impl SunPosition {
    /// Degrees above the horizon (negative below it), without refraction.
    pub fn elevation_deg(&self) -> f64 {
        90.0 - self.zenith.to_degrees()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;
    /// 2025-06-21T00:00:00Z, the June solstice.
    const SOLSTICE_MIDNIGHT_MS: i64 = 1_750_464_000_000;

    #[test]
    fn noon_zenith_at_the_solstice_is_latitude_minus_declination() {
        // Greenwich, solar noon ~12:02 UTC on 21 June: zenith = 51.48 - 23.44.
        let noon = SOLSTICE_MIDNIGHT_MS + 12 * HOUR_MS + 2 * 60_000;
        let sun = sun_position(noon, 51.48, 0.0);
        assert!(
            (sun.zenith.to_degrees() - (51.48 - 23.44)).abs() < 0.1,
            "{}",
            sun.zenith.to_degrees()
        );
        assert!((sun.azimuth.to_degrees() - 180.0).abs() < 1.0);
        assert!(
            (sun.distance_au - 1.016).abs() < 0.001,
            "aphelion is early July"
        );
    }

    #[test]
    fn sun_rises_in_the_east_and_sets_in_the_west() {
        let morning = sun_position(SOLSTICE_MIDNIGHT_MS + 6 * HOUR_MS, 37.1, -2.36);
        let evening = sun_position(SOLSTICE_MIDNIGHT_MS + 18 * HOUR_MS, 37.1, -2.36);
        let midnight = sun_position(SOLSTICE_MIDNIGHT_MS, 37.1, -2.36);
        assert!((45.0..90.0).contains(&morning.azimuth.to_degrees()));
        assert!((270.0..315.0).contains(&evening.azimuth.to_degrees()));
        assert!(midnight.zenith.to_degrees() > 90.0);
    }
}
