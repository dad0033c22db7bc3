//! The principal branch of the Lambert W function, evaluated from the logarithm of its argument.
//!
//! The single-diode equations need `W(x)` for `x = exp(y)` with `y` in the thousands (large shunt
//! resistances), far beyond `f64`'s range, so the solver works on `w + ln(w) = y` directly, as
//! pvlib does when `x` overflows.

/// `W0(exp(y))`: the `w > 0` with `w * exp(w) = exp(y)`, i.e. `w + ln(w) = y`.
pub(crate) fn lambert_w0_of_exp(y: f64) -> f64 {
    if y.is_nan() {
        return f64::NAN;
    }
    if y == f64::INFINITY {
        return f64::INFINITY;
    }
    // For tiny arguments W(x) = x - x^2 + O(x^3), already exact to f64 precision.
    if y < -40.0 {
        let x = y.exp();
        return x - x * x;
    }
    // Starting points on the correct side of the root keep Newton monotone and fast.
    let mut w = if y > 1.0 { y - y.ln() } else { y.exp().ln_1p() };
    for _ in 0..64 {
        // Newton on g(w) = w + ln(w) - y, g'(w) = 1 + 1/w.
        let next = w * (1.0 + y - w.ln()) / (1.0 + w);
        if (next - w).abs() <= 4.0 * f64::EPSILON * next.abs() {
            return next;
        }
        w = next;
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverts_w_exp_w() {
        for y in [
            -39.0, -10.0, -1.0, 0.0, 0.5, 1.0, 2.0, 10.0, 100.0, 1500.0, 5.0e4,
        ] {
            let w = lambert_w0_of_exp(y);
            assert!(w > 0.0, "y={y}");
            let residual = w + w.ln() - y;
            assert!(
                residual.abs() <= 1e-12 * y.abs().max(1.0),
                "y={y} w={w} residual={residual}"
            );
        }
    }

    #[test]
    fn known_values() {
        // W(e) = 1, W(1) = omega constant, W(0 + tiny) ~ tiny.
        assert!((lambert_w0_of_exp(1.0) - 1.0).abs() < 1e-15);
        assert!((lambert_w0_of_exp(0.0) - 0.567_143_290_409_783_8).abs() < 1e-15);
        let tiny = lambert_w0_of_exp(-50.0);
        assert!((tiny / (-50.0f64).exp() - 1.0).abs() < 1e-15);
        assert!(lambert_w0_of_exp(f64::NAN).is_nan());
    }
}
