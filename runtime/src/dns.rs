//! `dns.lookup`: `getaddrinfo` on the pool, in the slow-IO class (at most half the threads).

use std::io;
use std::net::{IpAddr, ToSocketAddrs};

use crate::{EventLoop, WorkSpec};

/// Resolves `host` like `dns.lookup(host, { all: true })`; the addresses keep the resolver's order.
pub fn lookup(
    lp: &EventLoop,
    host: &str,
    callback: impl FnOnce(&EventLoop, io::Result<Vec<IpAddr>>) + 'static,
) {
    let host = host.to_owned();
    lp.queue_work(
        WorkSpec::slow_io("dns.lookup"),
        move || {
            let addrs = (host.as_str(), 0)
                .to_socket_addrs()
                .map_err(|e| io::Error::new(e.kind(), format!("getaddrinfo '{host}': {e}")))?;
            let mut ips: Vec<IpAddr> = Vec::new();
            for addr in addrs {
                if !ips.contains(&addr.ip()) {
                    ips.push(addr.ip());
                }
            }
            Ok(ips)
        },
        callback,
    );
}
