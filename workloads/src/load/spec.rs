//! What a load run is asked to do ([`LoadSpec`]) and how it is checked and resolved before any
//! connection opens ([`resolve`] into a [`Plan`]).
//!
//! Rules: the URL becomes a socket address and the request bytes, encoded once here and never
//! again; only `http://` with an IPv4 literal, a bracketed IPv6 literal or `localhost`
//! (127.0.0.1, no name lookups) is accepted; every value is range-checked so a bad one fails
//! with its name and the fix before the run starts, never half-way through it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::client::Expect;
use super::LoadError;

/// A load run, as the caller wants it. Start from [`LoadSpec::new`] and override fields.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    /// `http://HOST[:PORT][/PATH]`, HOST an IPv4 literal, `[IPv6]` or `localhost`.
    pub url: String,
    /// Keep-alive connections, each with at most one request in flight.
    pub connections: usize,
    /// The measured window, after the warm-up.
    pub duration: Duration,
    /// Run before the window and excluded from every statistic.
    pub warmup: Duration,
    /// Open loop: requests per second in total over all connections. `None`: closed loop.
    pub rate: Option<f64>,
    /// Per request, from its actual send (connect included when it needs one).
    pub timeout: Duration,
    /// Generator threads, each with its own current-thread runtime.
    pub threads: usize,
    /// The status every answer must have.
    pub expect_status: u16,
    /// The body length every answer must have, if set.
    pub expect_body_bytes: Option<u64>,
    /// The request method (`GET`, `HEAD`, ...); requests carry no body.
    pub method: String,
}

impl LoadSpec {
    /// The defaults: 10 connections, 10 s, warm-up [`default_warmup`], closed loop, 2 s
    /// timeout, 1 thread, expect 200, any body length, `GET`.
    pub fn new(url: impl Into<String>) -> LoadSpec {
        let duration = Duration::from_secs(10);
        LoadSpec {
            url: url.into(),
            connections: 10,
            duration,
            warmup: default_warmup(duration),
            rate: None,
            timeout: Duration::from_secs(2),
            threads: 1,
            expect_status: 200,
            expect_body_bytes: None,
            method: "GET".to_string(),
        }
    }
}

/// The default warm-up: 1 s, or 10% of `duration` when that is shorter.
pub fn default_warmup(duration: Duration) -> Duration {
    Duration::from_secs(1).min(duration / 10)
}

/// The lab's one duration grammar (humantime's): `10s`, `500ms`, `2m`, `1.5s`, `250us`, `1h`,
/// `1m 30s`. A bare number has no unit and is refused, with the fix, wherever a duration is
/// asked for (`lab load -d`, the sweep's `duration` and `warmup`).
pub fn parse_duration(text: &str) -> Result<Duration, LoadError> {
    let bad = || LoadError::BadDuration {
        value: text.to_string(),
    };
    let trimmed = text.trim();
    // A bare number has no unit: refused, with the fix, everywhere in the lab.
    if trimmed.is_empty() || trimmed.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    humantime::parse_duration(trimmed).map_err(|_| bad())
}

/// A [`LoadSpec`] checked and resolved: what the driver and the connections run on.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub addr: SocketAddr,
    /// The whole request, encoded once.
    pub request: Box<[u8]>,
    /// `HEAD` answers carry no body whatever their Content-Length says.
    pub head_only: bool,
    pub connections: usize,
    pub threads: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub timeout: Duration,
    pub rate: Option<f64>,
    pub expect: Expect,
}

/// Most connections: 10,000 (as a sweep allows). Each holds a socket, a file descriptor and
/// its own histograms (about 40 KiB), and all are set up before the window opens.
pub const MAX_CONNECTIONS: usize = 10_000;
const MAX_THREADS: usize = 256;
const MIN_RATE: f64 = 0.001;
const MAX_RATE: f64 = 100_000_000.0;
const MAX_SPAN: Duration = Duration::from_secs(7 * 24 * 3600);

/// Checks every value of `spec` and encodes the request.
pub(crate) fn resolve(spec: &LoadSpec) -> Result<Plan, LoadError> {
    let target = parse_url(&spec.url)?;
    check_counts(spec)?;
    check_times(spec)?;
    check_method(&spec.method)?;
    let request = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\n\r\n",
        spec.method, target.path, target.authority
    );
    Ok(Plan {
        addr: target.addr,
        request: request.into_bytes().into_boxed_slice(),
        head_only: spec.method == "HEAD",
        connections: spec.connections,
        threads: spec.threads,
        duration: spec.duration,
        warmup: spec.warmup,
        timeout: spec.timeout,
        rate: spec.rate,
        expect: Expect {
            status: spec.expect_status,
            body_bytes: spec.expect_body_bytes,
        },
    })
}

fn out_of_range(name: &'static str, value: impl ToString, fix: &'static str) -> LoadError {
    LoadError::OutOfRange {
        name,
        value: value.to_string(),
        fix,
    }
}

fn check_counts(spec: &LoadSpec) -> Result<(), LoadError> {
    if !(1..=MAX_CONNECTIONS).contains(&spec.connections) {
        let fix = "use 1 to 10000 connections, like 64";
        return Err(out_of_range("connections", spec.connections, fix));
    }
    if !(1..=MAX_THREADS.min(spec.connections)).contains(&spec.threads) {
        let fix = "use 1 to 256 threads, and no more threads than connections";
        return Err(out_of_range("threads", spec.threads, fix));
    }
    if let Some(rate) = spec.rate {
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            let fix =
                "give requests/s from 0.001 to 100000000, like 1000, or none for a closed loop";
            return Err(out_of_range("rate", rate, fix));
        }
    }
    if !(100..=999).contains(&spec.expect_status) {
        let fix = "give an HTTP status code like 200";
        return Err(out_of_range("expect-status", spec.expect_status, fix));
    }
    Ok(())
}

fn check_times(spec: &LoadSpec) -> Result<(), LoadError> {
    let show = |d: Duration| format!("{d:?}");
    if spec.duration.is_zero() || spec.duration > MAX_SPAN {
        let fix = "use a duration above 0 and at most a week, like 10s";
        return Err(out_of_range("duration", show(spec.duration), fix));
    }
    if spec.warmup > MAX_SPAN {
        let fix = "use a warm-up of at most a week, like 1s";
        return Err(out_of_range("warmup", show(spec.warmup), fix));
    }
    if spec.timeout.is_zero() || spec.timeout > MAX_SPAN {
        let fix = "use a timeout above 0, like 2s";
        return Err(out_of_range("timeout", show(spec.timeout), fix));
    }
    Ok(())
}

fn check_method(method: &str) -> Result<(), LoadError> {
    let token = (1..=20).contains(&method.len()) && method.bytes().all(|b| b.is_ascii_uppercase());
    if token {
        Ok(())
    } else {
        let fix = "use an upper-case method like GET or HEAD";
        Err(out_of_range("method", format!("`{method}`"), fix))
    }
}

/// Where to connect and what to put in the request line and the Host header.
#[derive(Debug, PartialEq)]
struct Target {
    addr: SocketAddr,
    /// HOST[:PORT] as written, for the Host header.
    authority: String,
    /// Path and query, at least `/`.
    path: String,
}

fn parse_url(url: &str) -> Result<Target, LoadError> {
    let bad = |reason: String| LoadError::BadUrl {
        url: url.to_string(),
        reason,
    };
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(bad(format!(
                "scheme `{scheme}` is not supported, only http:// (no TLS)"
            )))
        }
        None => return Err(bad("it does not start with http://".to_string())),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let path = match path.strip_prefix('?') {
        Some(_) => format!("/{path}"),
        None => path.to_string(),
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad(
            "the path has spaces or control characters; percent-encode them".to_string(),
        ));
    }
    if authority.contains('@') {
        return Err(bad("user names and passwords are not supported".to_string()));
    }
    let (ip, port) = parse_authority(authority).map_err(bad)?;
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        authority: authority.to_string(),
        path,
    })
}

/// `HOST[:PORT]` into an address; the error is the reason, for [`LoadError::BadUrl`].
fn parse_authority(authority: &str) -> Result<(IpAddr, u16), String> {
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (v6, after) = inner
            .split_once(']')
            .ok_or("an IPv6 address needs its closing `]`")?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("expected `:PORT` after `]`")?,
            ),
        };
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| format!("`{v6}` is not an IPv6 address"))?;
        (IpAddr::V6(ip), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let ip = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            let v4: Ipv4Addr = host.parse().map_err(|_| {
                format!("host `{host}` is not an IP literal or localhost (no name lookups)")
            })?;
            IpAddr::V4(v4)
        };
        (ip, port)
    };
    let port = match port {
        None => 80,
        Some(text) => match text.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(format!("port `{text}` is not a number from 1 to 65535")),
        },
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        parse_url(url).unwrap()
    }

    #[test]
    fn urls_with_ipv4_ipv6_and_localhost() {
        let t = target("http://127.0.0.1:8080/a/b?x=1");
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:8080", "/a/b?x=1")
        );
        let t = target("http://[::1]:9000");
        assert_eq!(t.addr, "[::1]:9000".parse().unwrap());
        assert_eq!(t.path, "/");
        let t = target("HTTP://localhost?q#frag");
        assert_eq!(t.addr, "127.0.0.1:80".parse().unwrap());
        assert_eq!(t.path, "/?q");
    }

    #[test]
    fn bad_urls_name_the_url_and_the_fix() {
        for url in [
            "https://127.0.0.1/",
            "127.0.0.1:80/",
            "http://example.com/",
            "http://127.0.0.1:0/",
            "http://127.0.0.1:99999/",
            "http://[::1/",
            "http://[::1]x/",
            "http://u:p@127.0.0.1/",
            "http://127.0.0.1/a b",
            "http://:80/",
        ] {
            let message = parse_url(url).unwrap_err().to_string();
            assert!(message.contains(url), "{message}");
            assert!(message.contains("http://127.0.0.1:8080/path"), "{message}");
            assert!(!message.contains('\n'));
        }
    }

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        // One grammar for the whole lab: a bare number is refused, and so is `sec`.
        for bad in ["", "s", "10x", "-1s", "1e9999", "ten", "5", "1.5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_is_encoded_once_with_the_host_header() {
        let plan = resolve(&LoadSpec::new("http://[::1]:81/p")).unwrap();
        assert_eq!(&*plan.request, b"GET /p HTTP/1.1\r\nHost: [::1]:81\r\n\r\n");
        assert_eq!(
            default_warmup(Duration::from_secs(2)),
            Duration::from_millis(200)
        );
        assert_eq!(
            default_warmup(Duration::from_secs(60)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn values_out_of_range_are_refused() {
        let base = LoadSpec::new("http://127.0.0.1:1/");
        let cases = [
            LoadSpec {
                connections: 0,
                ..base.clone()
            },
            LoadSpec {
                threads: 3,
                connections: 2,
                ..base.clone()
            },
            LoadSpec {
                rate: Some(0.0),
                ..base.clone()
            },
            LoadSpec {
                rate: Some(f64::NAN),
                ..base.clone()
            },
            LoadSpec {
                duration: Duration::ZERO,
                ..base.clone()
            },
            LoadSpec {
                timeout: Duration::ZERO,
                ..base.clone()
            },
            LoadSpec {
                method: "get".into(),
                ..base.clone()
            },
            LoadSpec {
                expect_status: 42,
                ..base.clone()
            },
        ];
        for spec in cases {
            assert!(
                matches!(resolve(&spec), Err(LoadError::OutOfRange { .. })),
                "{spec:?}"
            );
        }
    }
}
