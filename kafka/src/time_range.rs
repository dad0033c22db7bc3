//! Which time range a query's filters ask for, so a scan reads only those offsets.
//!
//! Understood, on the time column (optionally cast to another timestamp type or to a date):
//! `=`, `<`, `<=`, `>`, `>=` against a timestamp or date literal, `BETWEEN`, and conjunctions of
//! these. Anything else is left to DataFusion's own filter; the scan always filters its rows
//! exactly to the range it extracted.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// A half-open range of timestamps in epoch milliseconds: `start <= t < end`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl TimeRange {
    pub fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }

    pub fn is_empty(&self) -> bool {
        matches!((self.start, self.end), (Some(s), Some(e)) if s >= e)
    }

    /// The range reaching `margin_ms` further on each bounded side.
    pub fn widened(self, margin_ms: u64) -> TimeRange {
        let margin_ms = i64::try_from(margin_ms).unwrap_or(i64::MAX);
        TimeRange {
            start: self.start.map(|s| s.saturating_sub(margin_ms)),
            end: self.end.map(|e| e.saturating_add(margin_ms)),
        }
    }

    /// The intersection of two ranges.
    pub fn and(self, other: TimeRange) -> TimeRange {
        TimeRange {
            start: combine(self.start, other.start, i64::max),
            end: combine(self.end, other.end, i64::min),
        }
    }
}

/// `pick` of two bounds where both are set, else the one that is (an unset bound is no bound).
fn combine(a: Option<i64>, b: Option<i64>, pick: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// The range all of `filters` together allow on `column`.
pub fn time_range(filters: &[Expr], column: &str) -> TimeRange {
    filters
        .iter()
        .flat_map(split_conjunction)
        .filter_map(|e| conjunct_range(e, column))
        .fold(TimeRange::default(), TimeRange::and)
}

/// Whether `filter` (possibly a conjunction) constrains `column`'s range.
pub fn constrains(filter: &Expr, column: &str) -> bool {
    split_conjunction(filter)
        .into_iter()
        .any(|e| conjunct_range(e, column).is_some())
}

fn conjunct_range(expr: &Expr, column: &str) -> Option<TimeRange> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (side, op, value) = match (time_column(left, column), time_column(right, column)) {
                (Some(side), None) => (side, *op, literal(right)?),
                (None, Some(side)) => (side, op.swap()?, literal(left)?),
                _ => return None,
            };
            comparison_range(side, op, value)
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => {
            let side = time_column(expr, column)?;
            let low = comparison_range(side, Operator::GtEq, literal(low)?)?;
            let high = comparison_range(side, Operator::LtEq, literal(high)?)?;
            Some(low.and(high))
        }
        _ => None,
    }
}

/// How the column appears in a comparison.
#[derive(Clone, Copy)]
enum Side {
    /// The timestamp itself (any timestamp unit): compared in milliseconds.
    Timestamp,
    /// `CAST(ts AS DATE)`: whole UTC days.
    Date,
}

fn time_column(expr: &Expr, column: &str) -> Option<Side> {
    match expr {
        Expr::Column(c) if c.name == column => Some(Side::Timestamp),
        Expr::Cast(c) => match (&*c.expr, c.field.data_type()) {
            (Expr::Column(col), DataType::Timestamp(..)) if col.name == column => {
                Some(Side::Timestamp)
            }
            (Expr::Column(col), DataType::Date32 | DataType::Date64) if col.name == column => {
                Some(Side::Date)
            }
            _ => None,
        },
        _ => None,
    }
}

/// A literal instant in epoch milliseconds, or a date in epoch days.
enum Literal {
    Millis(i64),
    /// Sub-millisecond instants round so that the millisecond comparison stays exact.
    Micros(i64),
    Day(i64),
}

fn literal(expr: &Expr) -> Option<Literal> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    Some(match value {
        ScalarValue::TimestampSecond(Some(v), _) => Literal::Millis(v.checked_mul(1000)?),
        ScalarValue::TimestampMillisecond(Some(v), _) => Literal::Millis(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Literal::Micros(*v),
        ScalarValue::TimestampNanosecond(Some(v), _) => {
            Literal::Micros(v.div_euclid(1000) + i64::from(v.rem_euclid(1000) != 0))
        }
        ScalarValue::Date32(Some(d)) => Literal::Day(i64::from(*d)),
        ScalarValue::Date64(Some(ms)) => Literal::Day(ms.div_euclid(DAY_MS)),
        _ => return None,
    })
}

/// The millisecond range where `column op value` can hold.
fn comparison_range(side: Side, op: Operator, value: Literal) -> Option<TimeRange> {
    // [lo, hi): the instants equal to `value` at the comparison's resolution.
    let (lo, hi) = match (side, value) {
        (Side::Timestamp, Literal::Millis(ms)) => (ms, ms.checked_add(1)?),
        (Side::Timestamp, Literal::Micros(us)) => {
            let floor = us.div_euclid(1000);
            if us.rem_euclid(1000) == 0 {
                (floor, floor + 1)
            } else {
                (floor + 1, floor + 1)
            }
        }
        (Side::Timestamp, Literal::Day(d)) => (
            d.checked_mul(DAY_MS)?,
            d.checked_mul(DAY_MS)?.checked_add(1)?,
        ),
        (Side::Date, Literal::Day(d)) => (d.checked_mul(DAY_MS)?, (d + 1).checked_mul(DAY_MS)?),
        (Side::Date, Literal::Millis(ms)) => {
            let d = ms.div_euclid(DAY_MS);
            (d * DAY_MS, (d + 1) * DAY_MS)
        }
        (Side::Date, Literal::Micros(_)) => return None,
    };
    let range = |start, end| Some(TimeRange { start, end });
    match op {
        Operator::Eq => range(Some(lo), Some(hi)),
        Operator::GtEq => range(Some(lo), None),
        Operator::Gt => range(Some(hi), None),
        Operator::Lt => range(None, Some(lo)),
        Operator::LtEq => range(None, Some(hi)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{cast, col, lit};

    #[test]
    fn ranges_intersect_and_contain() {
        let a = TimeRange {
            start: Some(10),
            end: Some(20),
        };
        let b = TimeRange {
            start: Some(15),
            end: None,
        };
        assert_eq!(
            a.and(b),
            TimeRange {
                start: Some(15),
                end: Some(20)
            }
        );
        assert!(a.contains(10) && !a.contains(20) && !a.contains(9));
        assert!(
            TimeRange {
                start: Some(5),
                end: Some(5)
            }
            .is_empty()
        );
        assert!(TimeRange::default().contains(i64::MIN));
    }

    fn ts(ms: i64) -> Expr {
        lit(ScalarValue::TimestampMillisecond(
            Some(ms),
            Some("UTC".into()),
        ))
    }

    fn r(start: Option<i64>, end: Option<i64>) -> TimeRange {
        TimeRange { start, end }
    }

    #[test]
    fn comparisons_and_conjunctions() {
        let f = col("ts").gt_eq(ts(1000)).and(col("ts").lt(ts(5000)));
        assert_eq!(time_range(&[f], "ts"), r(Some(1000), Some(5000)));
        assert_eq!(
            time_range(&[col("ts").gt(ts(1000))], "ts"),
            r(Some(1001), None)
        );
        assert_eq!(
            time_range(&[col("ts").lt_eq(ts(1000))], "ts"),
            r(None, Some(1001))
        );
        assert_eq!(
            time_range(&[ts(1000).lt(col("ts"))], "ts"),
            r(Some(1001), None)
        );
        assert_eq!(
            time_range(&[col("ts").eq(ts(7))], "ts"),
            r(Some(7), Some(8))
        );
        assert_eq!(
            time_range(&[col("ts").between(ts(10), ts(20))], "ts"),
            r(Some(10), Some(21))
        );
        // Separate filters intersect.
        assert_eq!(
            time_range(&[col("ts").gt_eq(ts(10)), col("ts").gt_eq(ts(30))], "ts"),
            r(Some(30), None)
        );
    }

    #[test]
    fn a_date_is_a_whole_utc_day() {
        let day = lit(ScalarValue::Date32(Some(20454))); // 2026-01-01
        let f = cast(col("ts"), DataType::Date32).eq(day);
        assert_eq!(
            time_range(&[f], "ts"),
            r(Some(20454 * DAY_MS), Some(20455 * DAY_MS))
        );
    }

    #[test]
    fn sub_millisecond_literals_stay_exact() {
        let us = |v| lit(ScalarValue::TimestampMicrosecond(Some(v), None));
        assert_eq!(
            time_range(&[col("ts").gt_eq(us(1500))], "ts"),
            r(Some(2), None)
        );
        assert_eq!(
            time_range(&[col("ts").lt(us(1500))], "ts"),
            r(None, Some(2))
        );
        assert_eq!(
            time_range(&[col("ts").gt_eq(us(2000))], "ts"),
            r(Some(2), None)
        );
    }

    #[test]
    fn other_predicates_are_not_ranges() {
        assert_eq!(
            time_range(&[col("voltage").gt(lit(3.0))], "ts"),
            TimeRange::default()
        );
        assert_eq!(
            time_range(&[col("ts").gt(ts(1)).or(col("ts").lt(ts(0)))], "ts"),
            TimeRange::default()
        );
        assert!(!constrains(&col("ts").not_eq(ts(1)), "ts"));
        assert!(constrains(
            &col("ts").gt(ts(1)).and(col("voltage").gt(lit(1.0))),
            "ts"
        ));
    }
}
