//! Tests of the runner's time limit (the orders it produces are tested in `tests/scenarios.rs`).

use super::*;

fn scenario(text: &str) -> Arc<Scenario> {
    Arc::new(super::super::parse(text, "t.toml", "t").unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn a_run_past_its_time_limit_is_stopped_naming_what_is_unfinished() {
    let s = scenario(
        "[[op]]\nkind = \"immediate\"\nlabel = \"i\"\n[[op]]\nkind = \"timeout\"\nlabel = \"slow\"\nms = 60000\n",
    );
    let fixture = Fixture::prepare(&s, None).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    match run_within(&s, &fixture, Duration::from_millis(200)) {
        Err(ScenarioError::TimedOut { side, missing, .. }) => {
            assert_eq!((side, missing.as_str()), ("looplab", "slow"));
        }
        other => panic!("expected a time-out: {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped, not waited out"
    );
}

#[test]
fn the_time_limit_does_not_keep_a_finished_run_alive() {
    let s = scenario("[[op]]\nkind = \"immediate\"\nlabel = \"i\"\n");
    let fixture = Fixture::prepare(&s, None).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let timeline =
        run_within(&s, &fixture, Duration::from_secs(600)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(timeline.order(), ["i"]);
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "the limit's timer is unreferenced"
    );
}
