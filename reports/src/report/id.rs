//! A point's coordinates, read back from its id. The sweep planner names every point
//! `strategy/workload[/pP][/kK][/wW][/cC][/rR]` (harness `sweep/plan.rs`): `p` the pool size, `k`
//! the cluster processes, `w` the worker threads, `c` the load generator's connections, `r` the
//! open-loop rate in requests/s. The optional segments come in that order, each at most once.
//!
//! Anything else (an unknown letter, a repeated or misplaced segment, a value that is not a whole
//! number) is an error naming the id: a report drawn from misread coordinates would be wrong in
//! a way nobody could see.

use std::fmt;

use super::ReportError;

/// Where a point sits in the sweep's axes.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PointCoords {
    /// `loop`, `loop-blocking`, `workers`, `cluster`, `tokio`, `rayon`, ...
    pub strategy: String,
    /// `hash`, `file`, `net` or a mix's name.
    pub workload: String,
    /// Pool size (`p`).
    pub pool: Option<u32>,
    /// Cluster processes (`k`).
    pub cluster: Option<u32>,
    /// Worker threads (`w`).
    pub workers: Option<u32>,
    /// Load generator connections (`c`).
    pub connections: Option<u32>,
    /// Open-loop offered rate in requests/s (`r`).
    pub rate_per_s: Option<u32>,
}

/// The optional segments in the order the planner writes them.
const SEGMENTS: [char; 5] = ['p', 'k', 'w', 'c', 'r'];

impl PointCoords {
    /// Same load (connections and rate): the two points are comparable.
    pub fn same_load(&self, other: &Self) -> bool {
        self.connections == other.connections && self.rate_per_s == other.rate_per_s
    }

    /// Parses a point id; the error names the id and the segment at fault.
    pub fn parse(id: &str) -> Result<Self, ReportError> {
        let bad = |reason: String| ReportError::PointId {
            id: id.to_string(),
            reason,
        };
        let mut parts = id.split('/');
        let strategy = parts.next().filter(|s| !s.is_empty());
        let workload = parts.next().filter(|s| !s.is_empty());
        let (Some(strategy), Some(workload)) = (strategy, workload) else {
            return Err(bad("it does not start with `strategy/workload`".into()));
        };
        let mut coords = PointCoords {
            strategy: strategy.to_string(),
            workload: workload.to_string(),
            ..PointCoords::default()
        };
        let mut next_allowed = 0;
        for segment in parts {
            let mut chars = segment.chars();
            let letter = chars.next().unwrap_or(' ');
            let Some(position) = SEGMENTS.iter().position(|&s| s == letter) else {
                return Err(bad(format!(
                    "unknown segment `{segment}`; expected p, k, w, c or r followed by a number"
                )));
            };
            if position < next_allowed {
                return Err(bad(format!(
                    "segment `{segment}` is repeated or out of order (the order is p, k, w, c, r)"
                )));
            }
            next_allowed = position + 1;
            let value: u32 = chars.as_str().parse().map_err(|_| {
                bad(format!(
                    "segment `{segment}` is not `{letter}` followed by a whole number"
                ))
            })?;
            let slot = match letter {
                'p' => &mut coords.pool,
                'k' => &mut coords.cluster,
                'w' => &mut coords.workers,
                'c' => &mut coords.connections,
                _ => &mut coords.rate_per_s,
            };
            *slot = Some(value);
        }
        Ok(coords)
    }

    /// The parallelism a chart puts on its x axis (the rule the report states):
    /// `loop`: the pool size P (1 when the point has none, e.g. `net`); `workers`: the worker
    /// threads W; `cluster`: the processes K; `loop-blocking`: 1. `None` for the references
    /// (`tokio`, `rayon`, or any other strategy), which have one configuration and are drawn as
    /// horizontal lines.
    pub fn parallelism(&self) -> Option<u32> {
        match self.strategy.as_str() {
            "loop" => Some(self.pool.unwrap_or(1)),
            "loop-blocking" => Some(1),
            "workers" => Some(self.workers.unwrap_or(1)),
            "cluster" => Some(self.cluster.unwrap_or(1)),
            _ => None,
        }
    }

    /// Whether the point is open loop (it has an offered rate).
    pub fn is_open_loop(&self) -> bool {
        self.rate_per_s.is_some()
    }

    /// The id without the workload: `cluster/p4/k2/c16`, the configuration's name in a
    /// workload's chart or table.
    pub fn config(&self) -> String {
        let mut out = self.strategy.clone();
        for (letter, value) in self.segments() {
            out.push_str(&format!("/{letter}{value}"));
        }
        out
    }

    /// The optional segments present, in id order.
    pub fn segments(&self) -> Vec<(char, u32)> {
        let values = [
            self.pool,
            self.cluster,
            self.workers,
            self.connections,
            self.rate_per_s,
        ];
        SEGMENTS
            .iter()
            .zip(values)
            .filter_map(|(&letter, value)| value.map(|v| (letter, v)))
            .collect()
    }
}

impl fmt::Display for PointCoords {
    /// The id the planner would write.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.strategy, self.workload)?;
        for (letter, value) in self.segments() {
            write!(f, "/{letter}{value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_planner_shape_parses_and_prints_back() {
        for id in [
            "loop/hash/p4/c16",
            "loop/net/c16",
            "cluster/web/p2/k1/c8/r200",
            "workers/web/p1/w2/c16",
            "tokio/file/c16",
            "rayon/hash",
            "cluster/hash/p2/k2",
        ] {
            let coords = PointCoords::parse(id).unwrap();
            assert_eq!(coords.to_string(), id);
        }
        let c = PointCoords::parse("cluster/web/p2/k3/c8/r200").unwrap();
        assert_eq!(
            (c.pool, c.cluster, c.workers, c.connections, c.rate_per_s),
            (Some(2), Some(3), None, Some(8), Some(200))
        );
        assert_eq!(c.config(), "cluster/p2/k3/c8/r200");
        assert!(c.is_open_loop());
    }

    #[test]
    fn parallelism_follows_the_stated_rule() {
        let par = |id: &str| PointCoords::parse(id).unwrap().parallelism();
        assert_eq!(par("loop/hash/p4/c16"), Some(4));
        assert_eq!(par("loop/net/c16"), Some(1));
        assert_eq!(par("loop-blocking/web/p4/c16"), Some(1));
        assert_eq!(par("workers/web/p4/w2/c16"), Some(2));
        assert_eq!(par("cluster/hash/p4/k2/c16"), Some(2));
        assert_eq!(par("tokio/hash/c16"), None);
        assert_eq!(par("rayon/hash"), None);
    }

    #[test]
    fn malformed_ids_are_errors_naming_the_id() {
        for (id, reason) in [
            ("loop", "strategy/workload"),
            ("/hash/p1", "strategy/workload"),
            ("loop/hash/x4", "unknown segment `x4`"),
            ("loop/hash/p", "whole number"),
            ("loop/hash/p-1", "whole number"),
            ("loop/hash/c8/p4", "out of order"),
            ("loop/hash/p4/p2", "repeated"),
            ("loop/hash/p4/", "unknown segment ``"),
        ] {
            let message = PointCoords::parse(id).unwrap_err().to_string();
            assert!(message.contains(&format!("`{id}`")), "{message}");
            assert!(message.contains(reason), "{id}: {message}");
        }
    }
}
