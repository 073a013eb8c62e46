//! Formatting shared by the HTML page and the Markdown table: metric values
//! with their intervals, the ranking of experiments, and file-name slugs.

use std::cmp::Ordering;
use std::collections::HashSet;

use crate::ExperimentResult;

/// A metric with three decimals, `n/a` when it is not a number (an
/// evaluation over no test items).
pub(crate) fn metric(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "n/a".to_string()
    }
}

/// `0.449 [0.42, 0.48]`: the value with its interval (see [`interval`]).
pub(crate) fn metric_ci(v: f64, ci: Option<(f64, f64)>) -> String {
    match interval(ci) {
        Some(i) => format!("{} {i}", metric(v)),
        None => metric(v),
    }
}

/// `[0.42, 0.48]`, at two decimals (the interval's width is what matters,
/// more digits would only be noise); `None` without a finite interval.
pub(crate) fn interval(ci: Option<(f64, f64)>) -> Option<String> {
    match ci {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() => Some(format!("[{lo:.2}, {hi:.2}]")),
        _ => None,
    }
}

/// The first 12 characters of a node key: enough to tell nodes apart by
/// eye; the whole key is in the page's tooltip and section.
pub(crate) fn short_key(key: &str) -> String {
    let short: String = key.chars().take(12).collect();
    if short.len() < key.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// Indices of `experiments`, best first: UA descending, then macro-F1, WA,
/// and name so the order is total and the same on every run. NaN ranks last.
pub(crate) fn rank_order(experiments: &[ExperimentResult]) -> Vec<usize> {
    let desc = |a: f64, b: f64| match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    };
    let mut order: Vec<usize> = (0..experiments.len()).collect();
    order.sort_by(|&i, &j| {
        let (a, b) = (&experiments[i], &experiments[j]);
        desc(a.ua, b.ua)
            .then(desc(a.macro_f1, b.macro_f1))
            .then(desc(a.wa, b.wa))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.protocol.cmp(&b.protocol))
    });
    order
}

/// A file-name-safe form of an experiment name: lower-case ASCII letters,
/// digits, `.` and `_`; every other run of characters becomes one `-`
/// (`acoustic/filter25/SVM` -> `acoustic-filter25-svm`). Never empty.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches(|c| c == '-' || c == '.').to_string();
    if out.is_empty() {
        "experiment".to_string()
    } else {
        out
    }
}

/// One slug per experiment, in input order, distinct even when two
/// experiments share a name (the same cell under two protocols): later ones
/// get the protocol appended, then a counter.
pub(crate) fn unique_slugs(experiments: &[ExperimentResult]) -> Vec<String> {
    let mut taken = HashSet::new();
    experiments
        .iter()
        .map(|e| {
            let base = slug(&e.name);
            let mut candidate = base.clone();
            if taken.contains(&candidate) {
                candidate = format!("{base}-{}", slug(&e.protocol));
            }
            let mut k = 2;
            while taken.contains(&candidate) {
                candidate = format!("{base}-{k}");
                k += 1;
            }
            taken.insert(candidate.clone());
            candidate
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_with_interval_matches_the_report_style() {
        assert_eq!(
            metric_ci(0.4489, Some((0.4213, 0.4791))),
            "0.449 [0.42, 0.48]"
        );
        assert_eq!(metric_ci(0.5, None), "0.500");
        assert_eq!(metric(f64::NAN), "n/a");
    }

    #[test]
    fn short_key_keeps_twelve_characters() {
        assert_eq!(short_key("0123456789abcdef"), "0123456789ab…");
        assert_eq!(short_key("abc"), "abc");
    }

    #[test]
    fn slugs_are_file_safe_and_distinct() {
        assert_eq!(slug("acoustic/filter25/SVM"), "acoustic-filter25-svm");
        assert_eq!(slug("  ../../etc/passwd "), "etc-passwd");
        assert_eq!(slug("///"), "experiment");
        let mk = |name: &str, protocol: &str| ExperimentResult {
            name: name.into(),
            protocol: protocol.into(),
            ..crate::tests_support::experiment()
        };
        let exps = [
            mk("a/b", "p1"),
            mk("a/b", "p2"),
            mk("a-b", "p2"),
            mk("a b", "p2"),
        ];
        assert_eq!(unique_slugs(&exps), ["a-b", "a-b-p2", "a-b-2", "a-b-3"]);
    }

    #[test]
    fn ranking_is_by_ua_then_f1_with_nan_last() {
        let mk = |name: &str, ua: f64, f1: f64| ExperimentResult {
            name: name.into(),
            ua,
            macro_f1: f1,
            ..crate::tests_support::experiment()
        };
        let exps = [
            mk("low", 0.3, 0.3),
            mk("nan", f64::NAN, 0.9),
            mk("tie-b", 0.6, 0.5),
            mk("tie-a", 0.6, 0.55),
        ];
        assert_eq!(rank_order(&exps), [3, 2, 0, 1]);
    }
}
