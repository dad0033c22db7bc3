//! Clear-sky irradiance on the tilted module plane, where the sun is
//! ([`pvflow_plant::sun`]). Clear sky: Haurwitz for global horizontal irradiance,
//! a Laue/Meinel attenuation model for the direct beam (with site altitude), diffuse horizontal
//! as the remainder; transposed to the plane of array with the isotropic sky model plus ground
//! reflection.

use crate::config::Site;
use crate::design::ArrayDesign;
use pvflow_plant::sun::sun_position;

/// Solar constant (W/m2).
const SOLAR_CONSTANT_W_M2: f64 = 1361.0;

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
