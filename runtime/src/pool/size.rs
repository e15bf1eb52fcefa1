//! How many threads the pool gets: libuv's `init_threads()` rules, bit for bit.
//!
//! libuv reads `UV_THREADPOOL_SIZE` with `atoi` into an `unsigned int` at the first submission:
//! 1. unset → 4;
//! 2. `atoi` result 0 (also empty or non-numeric text) → 1;
//! 3. above 1024 (`MAX_THREADPOOL_SIZE`, including negatives, which wrap to huge unsigned
//!    values) → 1024.
//!
//! The table in the tests was checked against Node 20 by counting `/proc/self/task` entries
//! before and after the first `crypto.randomFill`.

use crate::RuntimeError;

/// Default size when nothing is configured (libuv's `default_threads` array).
pub const DEFAULT_POOL_SIZE: usize = 4;
/// libuv's `MAX_THREADPOOL_SIZE` since v1.30.0.
pub const MAX_POOL_SIZE: usize = 1024;
/// The environment variable libuv reads.
pub const POOL_SIZE_ENV: &str = "UV_THREADPOOL_SIZE";

/// C's `atoi` as glibc implements it: `(int) strtol(s, NULL, 10)`.
fn atoi(text: &str) -> i32 {
    let s = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut value: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        // strtol saturates at LONG_MIN/LONG_MAX; track the magnitude saturating too.
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    let value = if negative {
        value.saturating_neg()
    } else {
        value
    };
    // The (int) cast keeps the low 32 bits.
    value as i32
}

/// The pool size libuv derives from the value of `UV_THREADPOOL_SIZE` (`None` when unset).
///
/// ```
/// use looplab_runtime::pool::size_from_env_value;
/// assert_eq!(size_from_env_value(None), 4);
/// assert_eq!(size_from_env_value(Some("abc")), 1);
/// assert_eq!(size_from_env_value(Some("2000")), 1024);
/// ```
pub fn size_from_env_value(value: Option<&str>) -> usize {
    let Some(value) = value else {
        return DEFAULT_POOL_SIZE;
    };
    let n = atoi(value) as u32 as usize;
    n.clamp(1, MAX_POOL_SIZE)
}

/// The size of the process pool when no explicit size was configured.
pub fn size_from_env() -> usize {
    size_from_env_value(std::env::var(POOL_SIZE_ENV).ok().as_deref())
}

/// Checks an explicitly configured size: unlike the environment, out of range is an error.
pub fn validate_size(size: usize) -> Result<usize, RuntimeError> {
    if (1..=MAX_POOL_SIZE).contains(&size) {
        Ok(size)
    } else {
        Err(RuntimeError::PoolSize(size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_parsing_matches_libuv_and_node() {
        let cases: &[(Option<&str>, usize)] = &[
            (None, 4),
            (Some("4"), 4),
            (Some("1"), 1),
            (Some("64"), 64),
            (Some("1024"), 1024),
            (Some("2000"), 1024),
            (Some("0"), 1),
            (Some(""), 1),
            (Some("abc"), 1),
            (Some(" 8"), 8),
            (Some("+3"), 3),
            (Some("12abc"), 12),
            (Some("3.9"), 3),
            // Measured on Node 20: negatives wrap to a huge unsigned value, then clamp.
            (Some("-5"), 1024),
            (Some("99999999999999999999"), 1024),
            // strtol gives 2^32 + 1; the (int) cast keeps 1.
            (Some("4294967297"), 1),
        ];
        for &(input, want) in cases {
            assert_eq!(
                size_from_env_value(input),
                want,
                "UV_THREADPOOL_SIZE={input:?}"
            );
        }
    }

    #[test]
    fn explicit_sizes_are_validated() {
        assert_eq!(validate_size(1), Ok(1));
        assert_eq!(validate_size(1024), Ok(1024));
        assert_eq!(validate_size(0), Err(RuntimeError::PoolSize(0)));
        assert_eq!(validate_size(1025), Err(RuntimeError::PoolSize(1025)));
        let msg = validate_size(0).unwrap_err().to_string();
        assert!(msg.contains("1..=1024"), "{msg}");
    }
}
