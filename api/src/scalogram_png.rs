//! A window's scalogram as a PNG: its four channels side by side (voltage, current,
//! temperature, irradiance), scale down the rows (1 at the top) and time across, each channel's
//! magnitude coloured from dark blue (0) to yellow (its largest).

use pvflow_udfs::{CHANNELS, NUM_SCALES, WINDOW_LEN};

/// Pixels per coefficient, and between channels.
const ZOOM: usize = 3;
const GAP: usize = 6;

/// Five stops of viridis, the colour map scientists read magnitudes from.
const VIRIDIS: [[f32; 3]; 5] = [
    [68.0, 1.0, 84.0],
    [59.0, 82.0, 139.0],
    [33.0, 145.0, 140.0],
    [94.0, 201.0, 98.0],
    [253.0, 231.0, 37.0],
];

fn colour(t: f32) -> [u8; 3] {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (VIRIDIS.len() - 1) as f32;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f32;
    std::array::from_fn(|c| (VIRIDIS[i][c] + f * (VIRIDIS[i + 1][c] - VIRIDIS[i][c])).round() as u8)
}

/// The PNG of `image` (4 x 64 x 64 values, `[channel][scale][time]`).
pub fn render(image: &[f32]) -> Result<Vec<u8>, png::EncodingError> {
    let channel_len = NUM_SCALES * WINDOW_LEN;
    let width = CHANNELS.len() * WINDOW_LEN * ZOOM + (CHANNELS.len() - 1) * GAP;
    let height = NUM_SCALES * ZOOM;
    let mut pixels = vec![255u8; width * height * 3];
    for (c, channel) in image.chunks(channel_len).take(CHANNELS.len()).enumerate() {
        let largest = channel.iter().fold(0f32, |m, v| m.max(v.abs()));
        let left = c * (WINDOW_LEN * ZOOM + GAP);
        for (i, value) in channel.iter().enumerate() {
            let (scale, time) = (i / WINDOW_LEN, i % WINDOW_LEN);
            let rgb = colour(if largest > 0.0 {
                value.abs() / largest
            } else {
                0.0
            });
            for dy in 0..ZOOM {
                for dx in 0..ZOOM {
                    let (x, y) = (left + time * ZOOM + dx, scale * ZOOM + dy);
                    let at = (y * width + x) * 3;
                    pixels[at..at + 3].copy_from_slice(&rgb);
                }
            }
        }
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_is_a_png_of_its_four_channels() {
        let image: Vec<f32> = (0..4 * 64 * 64).map(|i| (i % 97) as f32 - 48.0).collect();
        let png = render(&image).expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().expect("decodes");
        assert_eq!(
            (reader.info().width, reader.info().height),
            (4 * 64 * 3 + 3 * 6, 64 * 3)
        );
        assert_eq!(colour(0.0), [68, 1, 84]);
        assert_eq!(colour(1.0), [253, 231, 37]);
    }
}
