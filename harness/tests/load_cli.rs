//! The real `lab load` binary against a keep-alive server in this process: the JSON it prints
//! (parameters, counts, rates, latency, errors, CPU) and its one-line errors with exit 2.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::thread;

/// Serves `hello` to every request on every connection, a thread per connection; the threads
/// end when the client closes (the test process ends them otherwise).
fn hello_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || answer(conn));
        }
    });
    addr
}

fn answer(mut conn: TcpStream) {
    let _ = conn.set_nodelay(true);
    let (mut buf, mut have) = (vec![0u8; 8192], 0);
    loop {
        match conn.read(&mut buf[have..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
        while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            buf.copy_within(end + 4..have, 0);
            have -= end + 4;
            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
            if conn.write_all(reply).is_err() {
                return;
            }
        }
    }
}

fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .output()
        .expect("the lab binary runs")
}

fn json(out: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn closed_loop_json_has_every_figure() {
    let url = format!("http://{}/", hello_server());
    let out = lab(&[
        "load",
        "--url",
        &url,
        "-c",
        "2",
        "-d",
        "500ms",
        "--warmup",
        "100ms",
        "--expect-body-bytes",
        "5",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["params"]["url"], url.as_str());
    assert_eq!(v["params"]["mode"], "closed");
    assert_eq!(v["params"]["connections"], 2);
    assert_eq!(v["params"]["threads"], 1);
    assert_eq!(v["params"]["duration_s"], 0.5);
    assert_eq!(v["params"]["warmup_s"], 0.1);
    assert_eq!(v["params"]["expect_status"], 200);
    assert_eq!(v["window_s"], 0.5);
    let requests = v["requests"].as_u64().expect("a count");
    assert!(requests > 10, "{v}");
    assert!(v["throughput_rps"].as_f64().expect("a rate") > 20.0);
    assert_eq!(v["errors"]["total"], 0, "{v}");
    for kind in ["connect", "timeout", "status", "short_body", "io"] {
        assert_eq!(v["errors"][kind], 0, "{kind}");
    }
    let latency = &v["latency_us"];
    assert_eq!(latency["count"], requests);
    for p in ["p50", "p90", "p99", "p999", "max", "mean"] {
        assert!(latency[p].is_number(), "{p} in {latency}");
    }
    assert!(latency["histogram_base64"]
        .as_str()
        .expect("a histogram")
        .starts_with("HISTF"));
    assert!(v["latency_uncorrected_us"].is_null());
    assert!(v["intended_rate_rps"].is_null());
    assert!(v["cpu"]["utilization"].is_number() && v["cpu"]["total_s"].is_number());
    assert!(v["generator_limited"].is_boolean());
    assert_eq!(v["unfinished_connections"], 0);
}

#[test]
fn open_loop_json_has_both_latencies_and_both_rates() {
    let url = format!("http://{}/", hello_server());
    let out = lab(&[
        "load", "--url", &url, "-c", "2", "-d", "1s", "--warmup", "100ms", "--rate", "100",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["params"]["mode"], "open");
    assert_eq!(v["intended_rate_rps"], 100.0);
    let achieved = v["achieved_rate_rps"].as_f64().expect("a rate");
    assert!((60.0..=140.0).contains(&achieved), "{v}");
    assert!(v["latency_uncorrected_us"]["p99"].is_number(), "{v}");
    assert!(v["intended_requests"].as_u64().is_some());
}

#[test]
fn text_summary_names_requests_latency_and_errors() {
    let url = format!("http://{}/", hello_server());
    let out = lab(&["load", "--url", &url, "-c", "1", "-d", "300ms"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["requests", "req/s", "p99.9", "errors", "generator"] {
        assert!(text.contains(word), "{word} missing in:\n{text}");
    }
}

#[test]
fn bad_urls_and_values_exit_2_with_one_line() {
    for (args, needle) in [
        (
            vec!["load", "--url", "ftp://127.0.0.1/"],
            "ftp://127.0.0.1/",
        ),
        (vec!["load", "--url", "http://example.com/"], "example.com"),
        (
            vec!["load", "--url", "http://127.0.0.1:1/", "-d", "10x"],
            "10x",
        ),
        (
            vec!["load", "--url", "http://127.0.0.1:1/", "-c", "many"],
            "--connections",
        ),
        (
            vec!["load", "--url", "http://127.0.0.1:1/", "--rate=0"],
            "rate 0",
        ),
    ] {
        let out = lab(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("lab: error: "), "{stderr}");
        assert!(stderr.contains(needle), "{needle} missing in {stderr}");
        assert!(out.stdout.is_empty());
    }
    // A bare number is not a duration anywhere in the lab: the fix is named.
    let out = lab(&["load", "--url", "http://127.0.0.1:1/", "-d", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("like 10s, 500ms or 2m"));
    // Nothing listening: every connect is counted, the report still printed, and as no
    // request succeeded the run fails its threshold (exit 1, like k6's) saying why.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let out = lab(&["load", "--url", &url, "-c", "1", "-d", "200ms", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no request succeeded"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert!(v["errors"]["connect"].as_u64().expect("a count") > 0, "{v}");
}

#[test]
fn errors_above_the_threshold_exit_1_and_below_it_exit_0() {
    let addr = hello_server();
    let url = format!("http://{addr}/");
    // Every answer has the wrong status for --expect-status 404: 100% errors.
    let out = lab(&[
        "load",
        "--url",
        &url,
        "-c",
        "1",
        "-d",
        "200ms",
        "--expect-status",
        "404",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("load failed: no request succeeded"),
        "{stderr}"
    );
    // A healthy run exits 0; a threshold that is not a percentage is refused (exit 2).
    let ok = lab(&["load", "--url", &url, "-c", "1", "-d", "200ms"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = lab(&[
        "load",
        "--url",
        &url,
        "-d",
        "200ms",
        "--max-error-rate",
        "150",
    ]);
    assert_eq!(bad.status.code(), Some(2));
}
