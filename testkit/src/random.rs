//! Seeded random numbers for generated-input tests: the same seed gives the same cases, so a
//! failing case reproduces.

/// xorshift64*: fast, and good enough to pick mutations and bytes.
pub struct SeededRandom(u64);

impl SeededRandom {
    /// A generator from `seed` (0 is replaced: xorshift would only ever give 0).
    pub fn new(seed: u64) -> Self {
        SeededRandom(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
}
