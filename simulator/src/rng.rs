//! Independent random streams: ChaCha8 keyed by the plant seed, one stream per purpose and
//! device, so a device's faults and readings depend only on the seed and its own index — not on
//! how many devices the plant has or in which order (or on which thread) they are generated.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a stream is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Plant-wide weather.
    Weather,
    /// A device's fault schedule.
    Faults(usize),
    /// A device's fixed traits (soiling, sensor calibration, position in the plant).
    Traits(usize),
    /// A device's reading-by-reading randomness (noise, losses, arcs, tracker dither).
    Readings(usize),
    /// A device's sensor failures.
    SensorFailures(usize),
}

impl Stream {
    fn id(self) -> u64 {
        const PURPOSES: u64 = 3;
        match self {
            Stream::Weather => 0,
            // Wrapping only matters for devices beyond u32::MAX, which no plant has.
            Stream::Faults(device) => (device as u64).wrapping_mul(PURPOSES).wrapping_add(1),
            Stream::Traits(device) => (device as u64).wrapping_mul(PURPOSES).wrapping_add(2),
            Stream::Readings(device) => (device as u64).wrapping_mul(PURPOSES).wrapping_add(3),
            // Added later: beyond every id above, so those streams keep their numbers.
            Stream::SensorFailures(device) => (1 << 62) | device as u64,
        }
    }
}

pub(crate) fn stream_rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream.id());
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_distinct_and_reproducible() {
        let draws = |seed, stream| -> [u64; 4] { stream_rng(seed, stream).random() };
        let streams = [
            Stream::Weather,
            Stream::Faults(0),
            Stream::Traits(0),
            Stream::Readings(0),
            Stream::Faults(1),
            Stream::Readings(7),
            Stream::SensorFailures(0),
            Stream::SensorFailures(1),
        ];
        for (i, a) in streams.iter().enumerate() {
            assert_eq!(draws(5, *a), draws(5, *a));
            assert_ne!(draws(5, *a), draws(6, *a));
            for b in &streams[i + 1..] {
                assert_ne!(a.id(), b.id());
                assert_ne!(draws(5, *a), draws(5, *b));
            }
        }
    }
}
