//! How numbers and names are written in charts, tables and files: one place, so a throughput
//! reads the same in the HTML, the Markdown summary and a chart's tick labels.

use std::collections::BTreeSet;

use crate::store::Coords;

/// A count or rate with an SI suffix and 3 significant digits: `950`, `1.23k`, `45.6k`, `1.2M`.
pub fn si(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    format!("{}{suffix}", sig3(scaled))
}

/// 3 significant digits without trailing zeros: `1.23`, `45.6`, `950`, `0.0123`.
pub fn sig3(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Microseconds as milliseconds, 3 significant digits: `41.1`, `0.123`.
pub fn ms(us: f64) -> String {
    sig3(us / 1e3)
}

/// A ratio: `1.85×`.
pub fn times(r: f64) -> String {
    format!("{r:.2}×")
}

/// A percentage of a fraction: `0.42` → `42 %`.
pub fn percent(f: f64) -> String {
    format!("{:.0} %", f * 100.0)
}

/// A string safe as a file name: letters, digits, `-` and `_` kept, anything else `_`.
pub fn slug(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// The segments that describe the load rather than the configuration.
const LOAD_SEGMENTS: [char; 2] = ['c', 'r'];

/// Names configurations without the load coordinates every point shares (a sweep with one
/// connection count does not need `c16` in every legend). Pool size, processes and workers
/// are always named: they are the configuration.
#[derive(Clone, Debug, Default)]
pub struct Labeler {
    constant: BTreeSet<char>,
}

impl Labeler {
    /// Learns which segments are constant over `coords` (every point that has the segment has
    /// the same value).
    pub fn new<'a>(coords: impl IntoIterator<Item = &'a Coords>) -> Self {
        let mut values: std::collections::BTreeMap<char, BTreeSet<u32>> = Default::default();
        for c in coords {
            for (letter, value) in c.segments() {
                values.entry(letter).or_default().insert(value);
            }
        }
        Self {
            constant: values
                .into_iter()
                .filter(|(letter, v)| v.len() == 1 && LOAD_SEGMENTS.contains(letter))
                .map(|(k, _)| k)
                .collect(),
        }
    }

    /// `cluster/p4/k2`: strategy and the varying segments, minus `skip`.
    pub fn config(&self, coords: &Coords, skip: &[char]) -> String {
        let mut out = coords.strategy.name().to_string();
        out.push_str(&self.segments(coords, skip));
        out
    }

    /// `/p4/k2`: the varying segments alone, minus `skip`.
    pub fn segments(&self, coords: &Coords, skip: &[char]) -> String {
        coords
            .segments()
            .into_iter()
            .filter(|(l, _)| !self.constant.contains(l) && !skip.contains(l))
            .map(|(l, v)| format!("/{l}{v}"))
            .collect()
    }
}

/// `1 point`, `2 points`: a count with its noun, singular or plural as English wants.
pub fn count(n: impl Into<u64>, singular: &str, plural: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { singular } else { plural })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_the_same_everywhere() {
        assert_eq!(si(950.0), "950");
        assert_eq!(si(1234.0), "1.23k");
        assert_eq!(si(45_600.0), "45.6k");
        assert_eq!(si(1_200_000.0), "1.2M");
        assert_eq!(si(0.5), "0.5");
        assert_eq!(ms(41_087.0), "41.1");
        assert_eq!(ms(123.0), "0.123");
        assert_eq!(sig3(100.0), "100");
        assert_eq!(times(1.846), "1.85×");
        assert_eq!(slug("<script>"), "_script_");
    }

    #[test]
    fn labels_leave_out_what_every_point_shares() {
        let ids = ["loop/hash/p1/c16", "cluster/hash/p4/k2/c16", "loop/net/c16"];
        let coords: Vec<Coords> = ids
            .iter()
            .map(|i| Coords::from_schema1_id(i).unwrap())
            .collect();
        let labeler = Labeler::new(&coords);
        assert_eq!(labeler.config(&coords[1], &[]), "cluster/p4/k2");
        assert_eq!(labeler.config(&coords[1], &['p']), "cluster/k2");
        assert_eq!(labeler.config(&coords[2], &[]), "loop");
    }
}
