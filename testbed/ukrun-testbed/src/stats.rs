//! Small helpers the benchmarks share: sample counts from the environment,
//! medians and percentiles, and millisecond formatting.

use std::time::Duration;

use anyhow::{ensure, Context, Result};

/// The positive number in environment variable `name`, or `default`.
pub fn env_count(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => {
            let n: usize = v
                .trim()
                .parse()
                .with_context(|| format!("{name}={v:?} is not a number"))?;
            ensure!(n > 0, "{name} must be at least 1");
            Ok(n)
        }
        Err(_) => Ok(default),
    }
}

/// Median, 90th and 99th percentiles (nearest rank) and minimum of a
/// sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Median (mean of the middle two for an even count).
    pub median: Duration,
    /// 90th percentile, nearest rank.
    pub p90: Duration,
    /// 99th percentile, nearest rank.
    pub p99: Duration,
    /// Smallest value.
    pub min: Duration,
}

impl Summary {
    /// Summarises a non-empty sample.
    pub fn of(samples: &[Duration]) -> Summary {
        let mut s = samples.to_vec();
        s.sort();
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2
        };
        let rank = |percent: usize| s[(n * percent).div_ceil(100).max(1) - 1];
        Summary {
            median,
            p90: rank(90),
            p99: rank(99),
            min: s[0],
        }
    }
}

impl Summary {
    /// `median 12.3 ms, p90 15.0 ms, min 10.1 ms`.
    pub fn brief(&self) -> String {
        format!(
            "median {}, p90 {}, min {}",
            ms(self.median),
            ms(self.p90),
            ms(self.min)
        )
    }
}

/// `<what> median: A 12.3 ms, B 4.5 ms, ratio 2.73x`, from two sides' names
/// and medians; the ratio is the first median over the second.
pub fn ratio_line(what: &str, first: (&str, Duration), second: (&str, Duration)) -> String {
    format!(
        "{what} median: {} {}, {} {}, ratio {:.2}x",
        first.0,
        ms(first.1),
        second.0,
        ms(second.1),
        first.1.as_secs_f64() / second.1.as_secs_f64()
    )
}

/// The median of a non-empty sample of numbers (mean of the middle two for
/// an even count).
pub fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// `12.3 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        let ms_ = |v: u64| Duration::from_millis(v);
        let s = Summary::of(&[ms_(5), ms_(1), ms_(3), ms_(9)]);
        assert_eq!((s.median, s.p90, s.min), (ms_(4), ms_(9), ms_(1)));
        let hundred: Vec<Duration> = (1..=100).rev().map(ms_).collect();
        let s = Summary::of(&hundred);
        assert_eq!((s.p90, s.p99), (ms_(90), ms_(99)));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
        assert_eq!(ms(Duration::from_micros(12_340)), "12.3 ms");
        assert_eq!(
            Summary::of(&[ms_(2), ms_(4)]).brief(),
            "median 3.0 ms, p90 4.0 ms, min 2.0 ms"
        );
        assert_eq!(
            ratio_line("x", ("a", ms_(30)), ("b", ms_(20))),
            "x median: a 30.0 ms, b 20.0 ms, ratio 1.50x"
        );
    }
}
