//! How a shared listening address is spread over the workers: the three policies, Node's rule
//! for choosing one, and the round-robin hand-off bookkeeping (`RoundRobinHandle` in Node's
//! `lib/internal/cluster/round_robin_handle.js`), kept free of I/O so it is tested alone.
//!
//! Round-robin invariants (NODE_MODEL.md 4, SCHED_RR):
//! 1. a worker holds at most one unacknowledged connection; only a worker in `free` gets one;
//! 2. a new connection is queued, then handed to the first free worker (oldest in `free`);
//! 3. on `accepted` the primary closes its copy and the same worker gets the next queued
//!    connection at once, or goes back to the end of `free`; a blocked worker never acks, so it
//!    stops receiving connections;
//! 4. on a refusal (the worker is stopping) the worker leaves the handle and the connection is
//!    queued again for another worker (Node re-distributes it the same way).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use super::WorkerId;

/// The environment variable that picks the policy when the spec does not (Node's name).
pub const POLICY_ENV: &str = "NODE_CLUSTER_SCHED_POLICY";

/// How workers share one listening address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchedulingPolicy {
    /// Node's default (`SCHED_RR`): the primary accepts and hands each connection to the next
    /// worker that acknowledged its previous one.
    RoundRobin,
    /// Node's `SCHED_NONE`: the primary sends the listening socket to every worker, each
    /// accepts, and the kernel decides who gets a connection (often unbalanced).
    Shared,
    /// Each worker binds its own socket with `SO_REUSEPORT` and the kernel spreads connections
    /// by a hash of the addresses (Node 22.12+/23.1+ `reusePort`, not in Node 20's cluster).
    ReusePort,
}

impl SchedulingPolicy {
    /// Every policy, Node's default first.
    pub const ALL: [SchedulingPolicy; 3] = [
        SchedulingPolicy::RoundRobin,
        SchedulingPolicy::Shared,
        SchedulingPolicy::ReusePort,
    ];

    /// The short name: `rr`, `none` (Node's names) or `reuseport`.
    pub fn name(self) -> &'static str {
        match self {
            SchedulingPolicy::RoundRobin => "rr",
            SchedulingPolicy::Shared => "none",
            SchedulingPolicy::ReusePort => "reuseport",
        }
    }

    /// Parses a short name (see [`SchedulingPolicy::name`]).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "rr" => Some(SchedulingPolicy::RoundRobin),
            "none" => Some(SchedulingPolicy::Shared),
            "reuseport" => Some(SchedulingPolicy::ReusePort),
            _ => None,
        }
    }

    /// Node's rule: an explicit choice wins; otherwise `NODE_CLUSTER_SCHED_POLICY` set to `rr`
    /// or `none`; anything else (unset or another value, silently, as in Node) gives `rr`.
    pub fn resolve(explicit: Option<SchedulingPolicy>) -> Self {
        Self::resolve_with(explicit, std::env::var(POLICY_ENV).ok().as_deref())
    }

    fn resolve_with(explicit: Option<SchedulingPolicy>, env: Option<&str>) -> Self {
        match (explicit, env) {
            (Some(policy), _) => policy,
            (None, Some("none")) => SchedulingPolicy::Shared,
            _ => SchedulingPolicy::RoundRobin,
        }
    }

    pub(crate) fn to_byte(self) -> u8 {
        match self {
            SchedulingPolicy::RoundRobin => 1,
            SchedulingPolicy::Shared => 2,
            SchedulingPolicy::ReusePort => 3,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(SchedulingPolicy::RoundRobin),
            2 => Some(SchedulingPolicy::Shared),
            3 => Some(SchedulingPolicy::ReusePort),
            _ => None,
        }
    }
}

impl fmt::Display for SchedulingPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the primary must do after a round-robin step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step<C> {
    /// Send the connection now in flight for this worker (read it with `in_flight`).
    Send(WorkerId),
    /// Close the primary's copy of this connection.
    Close(C),
}

/// The round-robin bookkeeping of one listening address; `C` is the primary's copy of a
/// connection (a socket in the cluster, a number in the tests).
#[derive(Debug)]
pub(crate) struct RoundRobin<C> {
    all: BTreeSet<WorkerId>,
    free: VecDeque<WorkerId>,
    queued: VecDeque<C>,
    in_flight: BTreeMap<WorkerId, C>,
}

impl<C> Default for RoundRobin<C> {
    fn default() -> Self {
        Self {
            all: BTreeSet::new(),
            free: VecDeque::new(),
            queued: VecDeque::new(),
            in_flight: BTreeMap::new(),
        }
    }
}

impl<C> RoundRobin<C> {
    /// A worker started listening; it may get a queued connection at once.
    pub fn add(&mut self, worker: WorkerId) -> Vec<Step<C>> {
        self.all.insert(worker);
        self.handoff(worker).into_iter().collect()
    }

    /// A worker is gone; returns the connection it had not acknowledged, if any.
    pub fn remove(&mut self, worker: WorkerId) -> Option<C> {
        self.all.remove(&worker);
        self.free.retain(|w| *w != worker);
        self.in_flight.remove(&worker)
    }

    /// A new connection: queued, then handed to the first free worker.
    pub fn distribute(&mut self, conn: C) -> Vec<Step<C>> {
        self.queued.push_back(conn);
        match self.free.pop_front() {
            Some(worker) => self.handoff(worker).into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// The worker answered for its connection in flight.
    pub fn ack(&mut self, worker: WorkerId, accepted: bool) -> Vec<Step<C>> {
        let Some(conn) = self.in_flight.remove(&worker) else {
            return Vec::new();
        };
        if accepted {
            let mut steps = vec![Step::Close(conn)];
            steps.extend(self.handoff(worker));
            return steps;
        }
        self.remove(worker);
        self.distribute(conn)
    }

    /// The connection handed to `worker` and not yet acknowledged.
    pub fn in_flight(&self, worker: WorkerId) -> Option<&C> {
        self.in_flight.get(&worker)
    }

    /// Forgets every queued connection (they are returned to be closed) and every worker.
    pub fn clear(&mut self) -> Vec<C> {
        self.all.clear();
        self.free.clear();
        let mut conns: Vec<C> = self.queued.drain(..).collect();
        conns.extend(std::mem::take(&mut self.in_flight).into_values());
        conns
    }

    fn handoff(&mut self, worker: WorkerId) -> Option<Step<C>> {
        if !self.all.contains(&worker) || self.in_flight.contains_key(&worker) {
            return None;
        }
        match self.queued.pop_front() {
            Some(conn) => {
                self.in_flight.insert(worker, conn);
                Some(Step::Send(worker))
            }
            None => {
                if !self.free.contains(&worker) {
                    self.free.push_back(worker);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip_and_node_env_rule() {
        for policy in [
            SchedulingPolicy::RoundRobin,
            SchedulingPolicy::Shared,
            SchedulingPolicy::ReusePort,
        ] {
            assert_eq!(SchedulingPolicy::parse(policy.name()), Some(policy));
            assert_eq!(SchedulingPolicy::from_byte(policy.to_byte()), Some(policy));
        }
        let resolve = SchedulingPolicy::resolve_with;
        assert_eq!(resolve(None, None), SchedulingPolicy::RoundRobin);
        assert_eq!(resolve(None, Some("none")), SchedulingPolicy::Shared);
        assert_eq!(resolve(None, Some("rr")), SchedulingPolicy::RoundRobin);
        // Node ignores other values, `reuseport` included (it has no such policy).
        assert_eq!(
            resolve(None, Some("reuseport")),
            SchedulingPolicy::RoundRobin
        );
        let explicit = Some(SchedulingPolicy::ReusePort);
        assert_eq!(resolve(explicit, Some("none")), SchedulingPolicy::ReusePort);
    }

    #[test]
    fn connections_go_to_free_workers_in_turn() {
        let mut rr = RoundRobin::default();
        assert!(rr.add(1).is_empty());
        assert!(rr.add(2).is_empty());
        assert_eq!(rr.distribute(10), vec![Step::Send(1)]);
        assert_eq!(rr.distribute(11), vec![Step::Send(2)]);
        // Nobody is free: queued until an ack.
        assert!(rr.distribute(12).is_empty());
        assert_eq!(rr.ack(2, true), vec![Step::Close(11), Step::Send(2)]);
        assert_eq!(rr.in_flight(2), Some(&12));
        assert_eq!(rr.ack(1, true), vec![Step::Close(10)]);
        assert_eq!(rr.ack(2, true), vec![Step::Close(12)]);
        // Back to free in ack order: 1 then 2.
        assert_eq!(rr.distribute(13), vec![Step::Send(1)]);
        assert_eq!(rr.distribute(14), vec![Step::Send(2)]);
    }

    #[test]
    fn a_blocked_worker_stops_receiving() {
        let mut rr = RoundRobin::default();
        rr.add(1);
        rr.add(2);
        assert_eq!(rr.distribute(1), vec![Step::Send(1)]);
        for conn in 2..6 {
            assert_eq!(rr.distribute(conn), vec![Step::Send(2)]);
            assert_eq!(rr.ack(2, true), vec![Step::Close(conn)]);
        }
        assert_eq!(rr.in_flight(1), Some(&1));
    }

    #[test]
    fn refusal_redistributes_and_removal_returns_the_in_flight_connection() {
        let mut rr = RoundRobin::default();
        rr.add(1);
        assert_eq!(rr.distribute(7), vec![Step::Send(1)]);
        rr.add(2);
        assert_eq!(rr.ack(1, false), vec![Step::Send(2)]);
        assert_eq!(rr.in_flight(2), Some(&7));
        assert_eq!(rr.remove(2), Some(7));
        // Nobody left: connections wait, and a newcomer gets them at once.
        assert!(rr.distribute(8).is_empty());
        assert_eq!(rr.add(3), vec![Step::Send(3)]);
        assert_eq!(rr.clear(), vec![8]);
    }
}
