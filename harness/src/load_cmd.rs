//! `lab load`: the HTTP load generator on the command line, closed loop by default, open loop
//! with `--rate`, a text summary or one JSON object (`--json`).
//!
//! Every value flag is taken as text and parsed here, so a bad value fails with one line that
//! names the flag, the value and the fix (clap's own errors span several lines).

use crate::output::ThresholdFailed;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use looplab_workloads::load::{
    default_warmup, parse_duration, LatencySummary, LoadReport, LoadSpec,
};

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// http://HOST[:PORT]/PATH, HOST an IPv4 literal, [IPv6] or localhost.
    #[arg(long)]
    url: String,
    /// Keep-alive connections, one request in flight on each.
    #[arg(long, short = 'c', default_value = "10")]
    connections: String,
    /// The measured window, after the warm-up (10s, 500ms, 2m).
    #[arg(long, short = 'd', default_value = "10s")]
    duration: String,
    /// Open loop: requests/s in total; without it, a closed loop.
    #[arg(long, short = 'R')]
    rate: Option<String>,
    /// Warm-up excluded from every statistic; default 1s or 10% of the duration if shorter.
    #[arg(long)]
    warmup: Option<String>,
    /// Per-request timeout, from the actual send.
    #[arg(long, default_value = "2s")]
    timeout: String,
    /// Generator threads; connections are dealt over them.
    #[arg(long, short = 't', default_value = "1")]
    threads: String,
    /// The status every answer must have.
    #[arg(long, default_value = "200")]
    expect_status: String,
    /// The body length every answer must have.
    #[arg(long)]
    expect_body_bytes: Option<String>,
    /// The request method (no request body).
    #[arg(long, default_value = "GET")]
    method: String,
    /// Exit 1 when more than this percentage of the requests failed (errors are always
    /// reported); like k6's thresholds.
    #[arg(long, default_value = "1")]
    max_error_rate: String,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
}

/// Runs `lab load`.
pub fn run(args: &LoadArgs) -> Result<()> {
    let spec = spec(args)?;
    let max_error_pct: f64 = number(
        "max-error-rate",
        &args.max_error_rate,
        "a percentage like 1",
    )?;
    if !(0.0..=100.0).contains(&max_error_pct) {
        bail!("--max-error-rate {max_error_pct} is not a percentage; give a value from 0 to 100, like 1");
    }
    let report = looplab_workloads::load::run(&spec)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", text(&report));
    }
    match total_failure(&report).or_else(|| too_many_errors(&report, max_error_pct)) {
        // No request succeeded, or more failed than `--max-error-rate` allows.
        Some(reason) => Err(ThresholdFailed(format!("load failed: {reason}")).into()),
        None => Ok(()),
    }
}

/// Why the run failed its error threshold, if it did.
fn too_many_errors(r: &LoadReport, max_pct: f64) -> Option<String> {
    let done = r.requests + r.errors.total;
    let pct = if done == 0 {
        0.0
    } else {
        100.0 * r.errors.total as f64 / done as f64
    };
    (pct > max_pct).then(|| {
        format!(
            "{} of {done} requests failed ({pct:.1}%), above --max-error-rate {max_pct}%",
            r.errors.total
        )
    })
}

/// Why the run failed as a whole, when no request succeeded: the errors by kind (with the
/// status that came back instead of the expected one), or that nothing finished in time.
fn total_failure(r: &LoadReport) -> Option<String> {
    if r.requests > 0 {
        return None;
    }
    let e = &r.errors;
    if e.total == 0 {
        return Some(format!(
            "no request succeeded: {} attempted, {} abandoned at the end of the window; \
             lengthen --duration or check that the server answers",
            r.attempted, r.abandoned
        ));
    }
    let status = match e.unexpected_status {
        Some(got) => format!(": got status {got}, expected {}", r.params.expect_status),
        None => String::new(),
    };
    let kinds: Vec<String> = [
        ("connect", e.connect),
        ("timeout", e.timeout),
        ("status", e.status),
        ("short body", e.short_body),
        ("io", e.io),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(kind, n)| format!("{kind} {n}"))
    .collect();
    Some(format!(
        "no request succeeded: {} errors ({}) against {}{status}",
        e.total,
        kinds.join(", "),
        r.params.url
    ))
}

fn spec(args: &LoadArgs) -> Result<LoadSpec> {
    let duration = duration("duration", &args.duration)?;
    let warmup = match &args.warmup {
        Some(text) => self::duration("warmup", text)?,
        None => default_warmup(duration),
    };
    Ok(LoadSpec {
        url: args.url.clone(),
        connections: number("connections", &args.connections, "a count like 64")?,
        duration,
        warmup,
        rate: match &args.rate {
            Some(text) => Some(number("rate", text, "requests/s like 1000")?),
            None => None,
        },
        timeout: self::duration("timeout", &args.timeout)?,
        threads: number("threads", &args.threads, "a count like 1 or 2")?,
        expect_status: number("expect-status", &args.expect_status, "a status like 200")?,
        expect_body_bytes: match &args.expect_body_bytes {
            Some(text) => Some(number("expect-body-bytes", text, "a byte count like 12")?),
            None => None,
        },
        method: args.method.clone(),
    })
}

fn number<T: FromStr>(flag: &str, text: &str, example: &str) -> Result<T> {
    text.trim()
        .parse()
        .map_err(|_| anyhow!("--{flag} `{text}` is not a number; give {example}"))
}

fn duration(flag: &str, text: &str) -> Result<Duration> {
    parse_duration(text).with_context(|| format!("--{flag}"))
}

/// The readable summary.
fn text(r: &LoadReport) -> String {
    let p = &r.params;
    let mut out = format!(
        "lab load {} {}: {} loop, {} connections, {} thread(s), {:.1} s after {:.1} s warm-up\n",
        p.method, p.url, p.mode, p.connections, p.threads, p.duration_s, p.warmup_s
    );
    out += &format!(
        "  requests    {} good in {:.2} s = {:.0} req/s (attempted {}, abandoned {}, reconnects {})\n",
        r.requests, r.window_s, r.throughput_rps, r.attempted, r.abandoned, r.reconnects
    );
    if let (Some(rate), Some(slots)) = (r.intended_rate_rps, r.intended_requests) {
        out += &format!(
            "  rate        intended {rate:.0} req/s ({slots} requests), achieved {:.0} req/s\n",
            r.achieved_rate_rps
        );
    }
    let corrected = if r.latency_uncorrected_us.is_some() {
        "latency (us, from intended send)"
    } else {
        "latency (us)"
    };
    out += &latency_line(corrected, &r.latency_us);
    if let Some(uncorrected) = &r.latency_uncorrected_us {
        out += &latency_line("latency (us, from actual send)", uncorrected);
    }
    let e = &r.errors;
    out += &format!(
        "  errors      {} (connect {}, timeout {}, status {}, short body {}, io {})\n",
        e.total, e.connect, e.timeout, e.status, e.short_body, e.io
    );
    out += &format!(
        "  generator   {:.2} s CPU (user {:.2}, sys {:.2}) over {:.2} s = {:.0}% of {} thread(s), {:.0}% of the CPU they could get (waited {:.2} s for a core){}\n",
        r.cpu.total_s,
        r.cpu.user_s,
        r.cpu.sys_s,
        r.cpu.wall_s,
        r.cpu.utilization * 100.0,
        p.threads,
        r.cpu.capacity_utilization * 100.0,
        r.cpu.wait_s,
        if r.generator_limited {
            ": the generator, not the server, may have been the limit"
        } else {
            ""
        }
    );
    if r.unfinished_connections > 0 {
        out += &format!(
            "  warning     {} connection(s) did not stop by the hard stop; their counts are lost\n",
            r.unfinished_connections
        );
    }
    out
}

fn latency_line(label: &str, l: &LatencySummary) -> String {
    if l.count == 0 {
        // Percentiles of an empty histogram would read as 0 us.
        return format!("  {label}\n              none: no request succeeded\n");
    }
    format!(
        "  {label}\n              p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.0}\n",
        l.p50, l.p90, l.p99, l.p999, l.max, l.mean
    )
}
