//! The continuous wavelet transform with PyWavelets' real Morlet wavelet (`'morl'`).
//!
//! This module is plain numerics over slices; the SQL functions in [`crate::cwt_morlet`] and
//! [`crate::pv_scalogram`] wrap it for Arrow arrays.
//!
//! # What PyWavelets computes, and how this equals it
//!
//! `pywt.cwt(x, np.arange(1, S + 1), 'morl', method='conv', precision=12)` does, per scale `s`:
//!
//! 1. `psi(u) = cos(5u)·exp(-u²/2)` sampled at `u = linspace(-8, 8, 4096)`, integrated by
//!    `int_psi = cumsum(psi) · step` with `step = u[1] - u[0]`;
//! 2. `f = int_psi[j][::-1]` with `j = floor(arange(16s + 1) / (s · step))` (`L = 16s + 1` taps);
//! 3. `coef = -sqrt(s) · diff(convolve(x, f))`, trimmed symmetrically to `len(x)`.
//!
//! Convolution and differencing are both linear, so step 3 is one convolution of `x` with the
//! differenced filter `h[i] = -sqrt(s) · (f[i] - f[i-1])` (`f` is zero outside `0..L`, so `h` has
//! `L + 1` taps) and `coef[t] = Σ_k x[k] · h[t + L/2 - k]`. Building `h` once per scale (and
//! avoiding the catastrophic cancellation of `diff` over large partial sums) is also what makes the
//! result *more* accurate than the reference; the parity tests bound the difference.
//!
//! For a fixed length `N` the whole transform is a `(S·N) × N` matrix, so a batch of equal-length
//! series is one matrix product ([`DenseCwt`]); long series use direct convolution
//! ([`cwt_direct`]), `O(N · Σ L)`.

use std::collections::HashMap;
use std::ops::{Add, AddAssign, Mul};
use std::sync::{Arc, Mutex, OnceLock};

/// PyWavelets' default (since 1.9) `precision`: the wavelet is sampled on `2^12` points.
const PRECISION_POINTS: usize = 1 << 12;
/// Support of PyWavelets' `morl` wavelet.
const LOWER_BOUND: f64 = -8.0;
const UPPER_BOUND: f64 = 8.0;

/// The largest number of scales the transform accepts: the output grows as `scales × length`
/// and the filters as `16 · scales²`, so larger requests are almost certainly a mistake.
pub const MAX_SCALES: usize = 1024;

/// Series up to this length are transformed as one matrix product per batch; longer ones by
/// direct convolution. At 128 the `(64·128) × 128` f64 matrix is 8 MiB.
pub const DENSE_MAX_LEN: usize = 128;

/// `int_psi` and its sampling step, exactly as `pywt.integrate_wavelet('morl', precision=12)`.
struct IntegratedMorlet {
    int_psi: Vec<f64>,
    step: f64,
}

fn integrated_morlet() -> &'static IntegratedMorlet {
    static CELL: OnceLock<IntegratedMorlet> = OnceLock::new();
    CELL.get_or_init(|| {
        // numpy.linspace: u[i] = i · (range / (n - 1)) + start, last point set to stop exactly.
        let n = PRECISION_POINTS;
        let lin_step = (UPPER_BOUND - LOWER_BOUND) / (n - 1) as f64;
        let u = |i: usize| {
            if i == n - 1 {
                UPPER_BOUND
            } else {
                i as f64 * lin_step + LOWER_BOUND
            }
        };
        // integrate_wavelet uses the step as numpy sees it, u[1] - u[0], not range / (n - 1).
        let step = u(1) - u(0);
        let mut acc = 0.0;
        let int_psi = (0..n)
            .map(|i| {
                let x = u(i);
                acc += (5.0 * x).cos() * (-(x * x) / 2.0).exp();
                acc * step
            })
            .collect();
        IntegratedMorlet { int_psi, step }
    })
}

/// The differenced Morlet filter of one scale (see the module docs).
#[derive(Debug)]
struct ScaleFilter {
    /// `h[0..=L]`, in convolution order.
    taps: Vec<f64>,
    /// `L / 2`: output `t` is centred on input `t` by this shift.
    shift: usize,
}

impl ScaleFilter {
    fn new(scale: usize) -> Self {
        let morlet = integrated_morlet();
        let s = scale as f64;
        let span = s * (UPPER_BOUND - LOWER_BOUND) + 1.0;
        let denom = s * morlet.step;
        // j[k] = floor(k / (s · step)) for k in 0..ceil(span), as numpy's arange and astype(int).
        let count = span.ceil() as usize;
        let f: Vec<f64> = (0..count)
            .map(|k| (k as f64 / denom) as usize)
            .filter(|&j| j < morlet.int_psi.len())
            .map(|j| morlet.int_psi[j])
            .rev()
            .collect();
        let len = f.len();
        let gain = -s.sqrt();
        let taps = (0..=len)
            .map(|i| {
                let cur = if i < len { f[i] } else { 0.0 };
                let prev = if i > 0 { f[i - 1] } else { 0.0 };
                gain * (cur - prev)
            })
            .collect();
        ScaleFilter {
            taps,
            shift: len / 2,
        }
    }

    /// Filter tap that maps input `k` to output `t`, or zero outside the filter.
    fn tap(&self, t: usize, k: usize) -> f64 {
        (t + self.shift)
            .checked_sub(k)
            .and_then(|i| self.taps.get(i))
            .copied()
            .unwrap_or(0.0)
    }
}

/// The Morlet filters for scales `1..=num_scales`, built once per process and shared.
#[derive(Debug)]
pub struct FilterBank {
    filters: Vec<ScaleFilter>,
}

impl FilterBank {
    /// The shared bank for `num_scales` scales (`1..=MAX_SCALES`).
    pub fn get(num_scales: usize) -> Arc<FilterBank> {
        assert!(
            (1..=MAX_SCALES).contains(&num_scales),
            "num_scales out of range"
        );
        static BANKS: OnceLock<Mutex<Option<Arc<FilterBank>>>> = OnceLock::new();
        // Filters of the largest bank asked for so far serve every smaller request, so a
        // bank is rebuilt only when a query asks for more scales than ever before.
        let cell = BANKS.get_or_init(|| Mutex::new(None));
        let mut guard = cell.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bank) = guard.as_ref().filter(|b| b.filters.len() >= num_scales) {
            return Arc::clone(bank);
        }
        let bank = Arc::new(FilterBank {
            filters: (1..=num_scales).map(ScaleFilter::new).collect(),
        });
        *guard = Some(Arc::clone(&bank));
        bank
    }
}

/// Floating-point types the transform runs in: `f64` matches PyWavelets on float64 input,
/// `f32` matches it on float32 input (PyWavelets then computes in float32 too).
pub trait CwtFloat:
    Copy + Default + Send + Sync + 'static + Add<Output = Self> + Mul<Output = Self> + AddAssign
{
    fn from_f64(v: f64) -> Self;

    /// `self · a + b` with one rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;

    /// `C = A · B` for row-major `A` (`m × k`) and `B` (`k × n`); row `i` of `C` starts at
    /// `c[i · ldc]`.
    fn matmul(a: &[Self], m: usize, k: usize, b: &[Self], n: usize, c: &mut [Self], ldc: usize);

    /// The process-wide cache of dense transforms in this precision.
    fn dense_cache() -> &'static DenseCache<Self>;
}

macro_rules! impl_cwt_float {
    ($t:ty, $gemm:path) => {
        impl CwtFloat for $t {
            fn from_f64(v: f64) -> Self {
                v as $t
            }

            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }

            fn matmul(
                a: &[Self],
                m: usize,
                k: usize,
                b: &[Self],
                n: usize,
                c: &mut [Self],
                ldc: usize,
            ) {
                if m == 0 || n == 0 {
                    return;
                }
                assert!(a.len() >= m * k && b.len() >= k * n && ldc >= n);
                assert!(c.len() >= (m - 1) * ldc + n);
                // SAFETY: the asserts above keep every index the kernel touches, A[i·k + p],
                // B[p·n + j] and C[i·ldc + j] for i < m, p < k, j < n, inside the slices.
                unsafe {
                    $gemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        k as isize,
                        1,
                        b.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        c.as_mut_ptr(),
                        ldc as isize,
                        1,
                    );
                }
            }

            fn dense_cache() -> &'static DenseCache<Self> {
                static CACHE: OnceLock<DenseCache<$t>> = OnceLock::new();
                CACHE.get_or_init(DenseCache::default)
            }
        }
    };
}

impl_cwt_float!(f32, matrixmultiply::sgemm);
impl_cwt_float!(f64, matrixmultiply::dgemm);

/// The transform of length-`len` series as a matrix, transposed for batched products:
/// `coefficients (B × S·N) = series (B × N) · matrix (N × S·N)`, with each output row laid out
/// `[scale][time]`.
#[derive(Debug)]
pub struct DenseCwt<T> {
    len: usize,
    num_scales: usize,
    matrix: Vec<T>,
}

impl<T: CwtFloat> DenseCwt<T> {
    fn build(len: usize, num_scales: usize) -> Self {
        let bank = FilterBank::get(num_scales);
        let width = num_scales * len;
        let mut matrix = vec![T::default(); len * width];
        for (s, filter) in bank.filters[..num_scales].iter().enumerate() {
            for t in 0..len {
                for k in 0..len {
                    matrix[k * width + s * len + t] = T::from_f64(filter.tap(t, k));
                }
            }
        }
        DenseCwt {
            len,
            num_scales,
            matrix,
        }
    }

    /// The shared transform for this length and number of scales (built on first use).
    pub fn get(len: usize, num_scales: usize) -> Arc<Self> {
        T::dense_cache().get(len, num_scales)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Output values per series: `num_scales × len`.
    pub fn output_len(&self) -> usize {
        self.num_scales * self.len
    }

    /// Transforms `series` (row-major, `rows × len`) into `out`, where row `i`'s
    /// `[scale][time]` coefficients start at `out[i · out_stride]`.
    pub fn transform(&self, series: &[T], rows: usize, out: &mut [T], out_stride: usize) {
        T::matmul(
            series,
            rows,
            self.len,
            &self.matrix,
            self.output_len(),
            out,
            out_stride,
        );
    }
}

/// Dense transforms by (length, scales). Few shapes occur in practice (the 64-sample window
/// above all), but the cache is bounded so that a query over many short lengths cannot grow it
/// without limit.
pub struct DenseCache<T> {
    entries: Mutex<DenseMap<T>>,
}

type DenseMap<T> = HashMap<(usize, usize), Arc<DenseCwt<T>>>;

const DENSE_CACHE_ENTRIES: usize = 16;

impl<T> Default for DenseCache<T> {
    fn default() -> Self {
        DenseCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: CwtFloat> DenseCache<T> {
    fn get(&self, len: usize, num_scales: usize) -> Arc<DenseCwt<T>> {
        let key = (len, num_scales);
        if let Some(hit) = self.lock().get(&key) {
            return Arc::clone(hit);
        }
        // Built outside the lock: a build takes milliseconds and other shapes need not wait.
        let built = Arc::new(DenseCwt::build(len, num_scales));
        let mut entries = self.lock();
        if entries.len() >= DENSE_CACHE_ENTRIES {
            entries.clear();
        }
        Arc::clone(entries.entry(key).or_insert(built))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DenseMap<T>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Transforms one series of any length by direct convolution into `out`
/// (`num_scales × x.len()`, `[scale][time]`).
pub fn cwt_direct<T: CwtFloat>(x: &[T], bank: &FilterBank, num_scales: usize, out: &mut [T]) {
    assert!(out.len() >= num_scales * x.len());
    // Builds target baseline x86-64 (SSE2); the hot loop is worth AVX2 + FMA where the CPU
    // has them (about 4x here), chosen at run time so one binary runs everywhere.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { cwt_direct_avx2_fma(x, bank, num_scales, out) };
        return;
    }
    cwt_direct_body::<T, false>(x, bank, num_scales, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn cwt_direct_avx2_fma<T: CwtFloat>(x: &[T], bank: &FilterBank, num_scales: usize, out: &mut [T]) {
    cwt_direct_body::<T, true>(x, bank, num_scales, out);
}

#[inline(always)]
fn cwt_direct_body<T: CwtFloat, const FMA: bool>(
    x: &[T],
    bank: &FilterBank,
    num_scales: usize,
    out: &mut [T],
) {
    let n = x.len();
    for (filter, row) in bank.filters[..num_scales]
        .iter()
        .zip(out.chunks_exact_mut(n.max(1)))
    {
        row.fill(T::default());
        // coef[t] += h[i] · x[t + shift - i]: the inner loop runs over t with a fixed tap, so it
        // is a vectorisable axpy rather than a reduction.
        for (i, &tap) in filter.taps.iter().enumerate() {
            let tap = T::from_f64(tap);
            let lag = filter.shift as isize - i as isize;
            let t_lo = (-lag).max(0) as usize;
            let t_hi = (n as isize - lag).clamp(0, n as isize) as usize;
            if t_lo >= t_hi {
                continue;
            }
            let src = &x[(t_lo as isize + lag) as usize..(t_hi as isize + lag) as usize];
            for (o, &v) in row[t_lo..t_hi].iter_mut().zip(src) {
                // mul_add is a single instruction only with FMA; without it, a library call.
                *o = if FMA {
                    v.mul_add(tap, *o)
                } else {
                    *o + tap * v
                };
            }
        }
    }
}

/// Transforms one series of any length: the dense product for short series, direct
/// convolution for long ones.
pub fn cwt<T: CwtFloat>(x: &[T], num_scales: usize) -> Vec<T> {
    let mut out = vec![T::default(); num_scales * x.len()];
    if x.is_empty() {
        return out;
    }
    if x.len() <= DENSE_MAX_LEN {
        DenseCwt::<T>::get(x.len(), num_scales).transform(x, 1, &mut out, num_scales * x.len());
    } else {
        cwt_direct(x, &FilterBank::get(num_scales), num_scales, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_lengths_follow_pywavelets() {
        // len(j) = 16·s + 1 taps, one more after differencing.
        let bank = FilterBank::get(64);
        for (i, f) in bank.filters.iter().enumerate() {
            let s = i + 1;
            assert_eq!(f.taps.len(), 16 * s + 2, "scale {s}");
            assert_eq!(f.shift, 8 * s);
        }
    }

    #[test]
    fn integrated_wavelet_has_numpy_step_and_vanishes_at_the_ends() {
        let m = integrated_morlet();
        assert_eq!(m.int_psi.len(), 4096);
        // u[1] - u[0] as numpy computes it differs from 16/4095 in the last bits.
        assert_eq!(m.step, 0.003_907_203_907_203_893);
        assert!(m.int_psi[0].abs() < 1e-12);
        // The Morlet wavelet's integral over its support is ~0 (admissibility).
        assert!(m.int_psi[4095].abs() < 1e-4, "{}", m.int_psi[4095]);
    }

    #[test]
    fn dense_and_direct_agree_for_every_short_length() {
        for n in 1..=DENSE_MAX_LEN {
            let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
            let dense = cwt(&x, 16);
            let mut direct = vec![0.0; 16 * n];
            cwt_direct(&x, &FilterBank::get(16), 16, &mut direct);
            let max = direct.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-300);
            for (a, b) in dense.iter().zip(&direct) {
                assert!((a - b).abs() <= 1e-12 * max, "n={n}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn transform_is_linear_and_zero_for_zero_input() {
        let x: Vec<f64> = (0..64).map(|i| (i as f64 * 0.3).sin()).collect();
        let doubled: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
        let a = cwt(&x, 64);
        let b = cwt(&doubled, 64);
        for (a, b) in a.iter().zip(&b) {
            assert!((2.0 * a - b).abs() < 1e-12);
        }
        assert!(cwt(&[0.0f64; 64], 64).iter().all(|v| *v == 0.0));
    }
}
