//! Where a point sits in its sweep ([`Coords`]): recorded with every repetition since record
//! schema 2, so the report and the check read typed coordinates and never parse an id.
//!
//! A point's id is made from its coordinates ([`Coords::id`]):
//! `strategy/workload[/pP][/kK][/wW][/cC][/rR]`, where `p` is the pool size, `k` the cluster
//! processes, `w` the worker threads, `c` the load generator's connections and `r` the
//! open-loop rate in requests/s, each present only where the point has it, in that order. A
//! point run on another runtime than looplab has the runtime's name and a colon in front
//! (`node:loop/hash/p4/c16`). The planner names points with it, so ids stay stable across
//! versions.
//!
//! Folders written with schema 1 carry only the id; [`Coords::from_schema1_id`] reads it back
//! (strictly: an unknown, repeated or misplaced segment is an error naming the id) and is used
//! by the schema-1 record reader alone.

use std::fmt;

use looplab_workloads::deploy::{Mode, Runtime, Strategy};
use serde::{Deserialize, Serialize};

/// Where a point sits in the sweep's axes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Coords {
    /// How the work uses the cores.
    pub strategy: Strategy,
    /// `hash`, `file`, `net` or a mix's name.
    pub workload: String,
    /// Service (an HTTP server under load) or batch (N jobs at once).
    pub mode: Mode,
    /// Pool threads per process, where the pool size is swept (`p`).
    pub pool: Option<u32>,
    /// Cluster processes (`k`).
    pub processes: Option<u32>,
    /// Worker threads (`w`).
    pub workers: Option<u32>,
    /// Load generator connections (`c`, service mode).
    pub connections: Option<u32>,
    /// Open-loop offered rate in requests/s (`r`, service mode).
    pub rate_per_s: Option<u32>,
    /// What a chart puts on its x axis ([`Strategy::parallelism`]); `None` for the references.
    pub parallelism: Option<u32>,
    /// What ran the point: looplab, or Node running the point's twin. Records written before
    /// runtimes existed are looplab's.
    #[serde(default)]
    pub runtime: Runtime,
    /// On looplab, the cost profile it charged (`node`, or a profile file's name); `None`:
    /// native costs. Left out of the JSON when native.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub costs: Option<String>,
}

/// What produced a point's figures: its runtime and, on looplab, the cost profile it charged.
/// Answers and charts are made within one flavour; never across two.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flavour {
    /// The runtime.
    pub runtime: Runtime,
    /// The cost profile charged (looplab only).
    pub costs: Option<String>,
}

impl Flavour {
    /// Plain looplab, native costs.
    pub fn looplab() -> Self {
        Self {
            runtime: Runtime::Looplab,
            costs: None,
        }
    }

    /// The prefix of its points' ids: empty for plain looplab, else `node:`,
    /// `looplab+node:`, ...
    pub fn id_prefix(&self) -> String {
        match (&self.costs, self.runtime) {
            (None, Runtime::Looplab) => String::new(),
            (None, runtime) => format!("{}:", runtime.name()),
            (Some(costs), runtime) => format!("{}+{costs}:", runtime.name()),
        }
    }
}

impl fmt::Display for Flavour {
    /// `looplab`, `Node.js`, `looplab with node costs`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.runtime.label())?;
        if let Some(costs) = &self.costs {
            write!(f, " with {costs} costs")?;
        }
        Ok(())
    }
}

/// The optional segments in the order ids write them.
const SEGMENTS: [char; 5] = ['p', 'k', 'w', 'c', 'r'];

impl Coords {
    /// The point's id, e.g. `cluster/hash/p4/k2/c16`.
    pub fn id(&self) -> String {
        self.to_string()
    }

    /// The point's runtime and cost profile.
    pub fn flavour(&self) -> Flavour {
        Flavour {
            runtime: self.runtime,
            costs: self.costs.clone(),
        }
    }

    /// Same load (connections and rate): the two points are comparable.
    pub fn same_load(&self, other: &Self) -> bool {
        self.connections == other.connections && self.rate_per_s == other.rate_per_s
    }

    /// Whether the point is open loop (it has an offered rate).
    pub fn is_open_loop(&self) -> bool {
        self.rate_per_s.is_some()
    }

    /// The id without the workload: `cluster/p4/k2/c16`, the configuration's name in a
    /// workload's chart or table.
    pub fn config(&self) -> String {
        let mut out = self.strategy.name().to_string();
        for (letter, value) in self.segments() {
            out.push_str(&format!("/{letter}{value}"));
        }
        out
    }

    /// The optional segments present, in id order.
    pub fn segments(&self) -> Vec<(char, u32)> {
        let values = [
            self.pool,
            self.processes,
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

    /// Reads the coordinates back from a schema-1 record's id; the error says what is wrong
    /// with it. Schema 1 recorded no mode: a point with connections was a service point.
    pub fn from_schema1_id(id: &str) -> Result<Self, String> {
        let mut parts = id.split('/');
        let strategy = parts.next().filter(|s| !s.is_empty());
        let workload = parts.next().filter(|s| !s.is_empty());
        let (Some(strategy), Some(workload)) = (strategy, workload) else {
            return Err("it does not start with `strategy/workload`".into());
        };
        let strategy = Strategy::parse(strategy).ok_or_else(|| {
            format!(
                "unknown strategy `{strategy}`; expected one of {}",
                Strategy::names()
            )
        })?;
        let mut values = [None; 5];
        let mut next_allowed = 0;
        for segment in parts {
            let (position, value) = schema1_segment(segment, next_allowed)?;
            values[position] = Some(value);
            next_allowed = position + 1;
        }
        let [pool, processes, workers, connections, rate_per_s] = values;
        Ok(Coords {
            strategy,
            workload: workload.to_string(),
            mode: if connections.is_some() {
                Mode::Service
            } else {
                Mode::Batch
            },
            pool,
            processes,
            workers,
            connections,
            rate_per_s,
            parallelism: strategy.parallelism(pool, workers, processes),
            runtime: Runtime::Looplab,
            costs: None,
        })
    }
}

/// One `letterNUMBER` segment of a schema-1 id: its place in [`SEGMENTS`] and its value.
fn schema1_segment(segment: &str, next_allowed: usize) -> Result<(usize, u32), String> {
    let mut chars = segment.chars();
    let letter = chars.next().unwrap_or(' ');
    let Some(position) = SEGMENTS.iter().position(|&s| s == letter) else {
        return Err(format!(
            "unknown segment `{segment}`; expected p, k, w, c or r followed by a number"
        ));
    };
    if position < next_allowed {
        return Err(format!(
            "segment `{segment}` is repeated or out of order (the order is p, k, w, c, r)"
        ));
    }
    let value = chars
        .as_str()
        .parse()
        .map_err(|_| format!("segment `{segment}` is not `{letter}` followed by a whole number"))?;
    Ok((position, value))
}

impl fmt::Display for Coords {
    /// The point's id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.flavour().id_prefix())?;
        write!(f, "{}/{}", self.strategy.name(), self.workload)?;
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
    fn every_planner_shape_reads_back_and_prints_the_same() {
        for id in [
            "loop/hash/p4/c16",
            "loop/net/c16",
            "cluster/web/p2/k1/c8/r200",
            "workers/web/p1/w2/c16",
            "tokio/file/c16",
            "rayon/hash",
            "cluster/hash/p2/k2",
        ] {
            let coords = Coords::from_schema1_id(id).unwrap();
            assert_eq!(coords.id(), id);
        }
        let c = Coords::from_schema1_id("cluster/web/p2/k3/c8/r200").unwrap();
        assert_eq!(
            (c.pool, c.processes, c.workers, c.connections, c.rate_per_s),
            (Some(2), Some(3), None, Some(8), Some(200))
        );
        assert_eq!((c.mode, c.parallelism), (Mode::Service, Some(3)));
        assert_eq!(c.config(), "cluster/p2/k3/c8/r200");
        assert!(c.is_open_loop());
        let batch = Coords::from_schema1_id("rayon/hash").unwrap();
        assert_eq!((batch.mode, batch.parallelism), (Mode::Batch, None));
        let on_node = Coords {
            runtime: Runtime::Node,
            ..c
        };
        assert_eq!(on_node.id(), "node:cluster/web/p2/k3/c8/r200");
        assert_eq!(on_node.config(), "cluster/p2/k3/c8/r200");
    }

    #[test]
    fn malformed_schema1_ids_say_what_is_wrong() {
        for (id, reason) in [
            ("loop", "strategy/workload"),
            ("/hash/p1", "strategy/workload"),
            ("threads/hash", "unknown strategy `threads`"),
            ("loop/hash/x4", "unknown segment `x4`"),
            ("loop/hash/p", "whole number"),
            ("loop/hash/p-1", "whole number"),
            ("loop/hash/c8/p4", "out of order"),
            ("loop/hash/p4/p2", "repeated"),
            ("loop/hash/p4/", "unknown segment ``"),
        ] {
            let message = Coords::from_schema1_id(id).unwrap_err();
            assert!(message.contains(reason), "{id}: {message}");
        }
    }

    #[test]
    fn coords_round_trip_through_json_with_names() {
        let c = Coords::from_schema1_id("loop-blocking/web/p4/c16").unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""strategy":"loop-blocking""#), "{json}");
        assert!(json.contains(r#""mode":"service""#), "{json}");
        assert_eq!(serde_json::from_str::<Coords>(&json).unwrap(), c);
    }
}
