//! The loop's clocks.
//!
//! libuv keeps a *cached* millisecond clock (`loop->time`) read from `CLOCK_MONOTONIC_COARSE`
//! when that clock's resolution is at most 1 ms, else from `CLOCK_MONOTONIC`
//! (`src/unix/linux.c: uv__hrtime(UV_CLOCK_FAST)`). Timer due times and "is this timer due" are
//! decided on that cached value, which is why `setTimeout(0)` against `setImmediate` from the main
//! program is a race in Node: it depends on whether a millisecond boundary passed.
//! High-resolution nanosecond readings (`hrtime_ns`) are used only for metrics.

use std::sync::OnceLock;

fn read_clock(id: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts
}

fn as_ns(ts: libc::timespec) -> u64 {
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The clock libuv calls `UV_CLOCK_FAST`: the coarse monotonic clock when it is fine enough.
fn fast_clock_id() -> libc::clockid_t {
    static ID: OnceLock<libc::clockid_t> = OnceLock::new();
    *ID.get_or_init(|| {
        let mut res = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `res` is a valid, writable timespec.
        let ok = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) } == 0;
        if ok && res.tv_sec == 0 && res.tv_nsec <= 1_000_000 {
            libc::CLOCK_MONOTONIC_COARSE
        } else {
            libc::CLOCK_MONOTONIC
        }
    })
}

/// Milliseconds on libuv's fast monotonic clock (what `uv__update_time` stores).
pub fn now_ms() -> u64 {
    as_ns(read_clock(fast_clock_id())) / 1_000_000
}

/// Nanoseconds on the precise monotonic clock (what `uv_hrtime` returns).
pub fn hrtime_ns() -> u64 {
    as_ns(read_clock(libc::CLOCK_MONOTONIC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_are_monotonic_and_agree_on_the_millisecond_scale() {
        let a = now_ms();
        let h = hrtime_ns();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = now_ms();
        assert!(
            b >= a + 3,
            "fast clock advanced {} ms over a 5 ms sleep",
            b - a
        );
        assert!(hrtime_ns() > h);
        // Both clocks count from the same origin (boot), so they agree within a few ms.
        let diff = (hrtime_ns() / 1_000_000).abs_diff(now_ms());
        assert!(diff <= 10, "fast and precise clocks differ by {diff} ms");
    }
}
