//! Sun position and clear-sky irradiance on the tilted module plane.
//!
//! Position: the Astronomical Almanac's low-precision formulas (about 0.01 degrees over
//! 1950-2050), plenty for 20-s irradiance. Clear sky: Haurwitz for global horizontal irradiance,
//! a Laue/Meinel attenuation model for the direct beam (with site altitude), diffuse horizontal
//! as the remainder; transposed to the plane of array with the isotropic sky model plus ground
//! reflection.

use crate::config::Site;
use crate::design::ArrayDesign;

const MS_PER_DAY: f64 = 86_400_000.0;
/// Julian date of the Unix epoch, and of J2000.0.
const JULIAN_DATE_UNIX_EPOCH: f64 = 2_440_587.5;
const JULIAN_DATE_J2000: f64 = 2_451_545.0;
/// Solar constant (W/m2).
const SOLAR_CONSTANT_W_M2: f64 = 1361.0;

/// Where the sun is: zenith angle and azimuth (clockwise from north), both in radians, and the
/// Earth-Sun distance in astronomical units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SunPosition {
    pub zenith: f64,
    pub azimuth: f64,
    pub distance_au: f64,
}

pub(crate) fn sun_position(unix_ms: i64, latitude_deg: f64, longitude_deg: f64) -> SunPosition {
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

/// Clear-sky plane-of-array irradiance (W/m2), split into the direct beam and the diffuse part
/// (sky plus ground reflection) that still reaches shaded cells.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct PlaneIrradiance {
    pub beam: f64,
    pub diffuse: f64,
}

pub(crate) fn clear_sky_plane_irradiance(
    site: &Site,
    array: &ArrayDesign,
    unix_ms: i64,
) -> PlaneIrradiance {
    let sun = sun_position(unix_ms, site.latitude_deg, site.longitude_deg);
    let cos_zenith = sun.zenith.cos();
    if cos_zenith <= 0.0 {
        return PlaneIrradiance::default();
    }
    let global_horizontal = 1098.0 * cos_zenith * (-0.059 / cos_zenith).exp();
    // Kasten-Young relative air mass, Laue's altitude correction of Meinel's attenuation.
    let zenith_deg = sun.zenith.to_degrees();
    let air_mass = 1.0 / (cos_zenith + 0.505_72 * (96.079_95 - zenith_deg).powf(-1.6364));
    let altitude_km = site.altitude_m / 1000.0;
    let transmittance =
        (1.0 - 0.14 * altitude_km) * 0.7f64.powf(air_mass.powf(0.678)) + 0.14 * altitude_km;
    let extraterrestrial = SOLAR_CONSTANT_W_M2 / (sun.distance_au * sun.distance_au);
    let direct_normal = (extraterrestrial * transmittance).min(global_horizontal / cos_zenith);
    let diffuse_horizontal = global_horizontal - direct_normal * cos_zenith;

    let tilt = array.tilt_deg.to_radians();
    let cos_incidence = cos_zenith * tilt.cos()
        + sun.zenith.sin() * tilt.sin() * (sun.azimuth - array.azimuth_deg.to_radians()).cos();
    let sky_view = (1.0 + tilt.cos()) / 2.0;
    let ground_view = (1.0 - tilt.cos()) / 2.0;
    PlaneIrradiance {
        beam: direct_normal * cos_incidence.max(0.0),
        diffuse: diffuse_horizontal * sky_view + global_horizontal * site.albedo * ground_view,
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

    #[test]
    fn clear_sky_is_plausible() {
        let site = Site::default();
        let array = ArrayDesign::default();
        let noon = clear_sky_plane_irradiance(
            &site,
            &array,
            SOLSTICE_MIDNIGHT_MS + 12 * HOUR_MS + 10 * 60_000,
        );
        let total = noon.beam + noon.diffuse;
        assert!((900.0..1100.0).contains(&total), "noon POA {total}");
        assert!(
            (0.05..0.2).contains(&(noon.diffuse / total)),
            "diffuse share {}",
            noon.diffuse / total
        );
        let night = clear_sky_plane_irradiance(&site, &array, SOLSTICE_MIDNIGHT_MS + 2 * HOUR_MS);
        assert_eq!(night, PlaneIrradiance::default());
        let early = clear_sky_plane_irradiance(
            &site,
            &array,
            SOLSTICE_MIDNIGHT_MS + 5 * HOUR_MS + 45 * 60_000,
        );
        assert!(early.beam + early.diffuse < 150.0);
        assert!(early.diffuse / (early.beam + early.diffuse).max(1e-9) > 0.3);
    }
}
