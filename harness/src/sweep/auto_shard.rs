//! `--shard auto`: the shard index and count from the environment a scheduler gives each task,
//! read by a pure function of the variables (so every case is tested without touching the
//! process environment). The first scheduler whose index variable is set decides, in order:
//!
//! 1. Slurm job arrays: `SLURM_ARRAY_TASK_ID` within `SLURM_ARRAY_TASK_MIN`..`MAX` (stepping
//!    by `SLURM_ARRAY_TASK_STEP`, if set), so `--array=0-3` and `--array=1-4` both make 4
//!    shards; without MIN and MAX, `SLURM_ARRAY_TASK_COUNT` with ids from 0.
//! 2. Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX` (0-based) and `LAB_SHARDS`, the Job's
//!    `completions`, which the pod does not see unless the manifest passes it.
//! 3. GitLab CI `parallel:` jobs: `CI_NODE_INDEX` (1-based) and `CI_NODE_TOTAL`.
//! 4. Anything else, GitHub Actions matrices among them (which have no index variable of their
//!    own): `LAB_SHARD_INDEX` (1-based, as in `--shard I/N`) and `LAB_SHARDS`.
//!
//! Whatever the source, the result is the 1-based [`Shard`] of `--shard I/N`, validated
//! (count above 0, index within it); a mistake is one line naming the variables and the fix.

use super::order::Shard;

/// The variables `--shard auto` reads, for the message when none is set.
const LOOKED_AT: &str = "SLURM_ARRAY_TASK_ID (Slurm array), JOB_COMPLETION_INDEX with LAB_SHARDS \
     (Kubernetes Indexed Job), CI_NODE_INDEX with CI_NODE_TOTAL (GitLab parallel), \
     LAB_SHARD_INDEX with LAB_SHARDS (GitHub Actions matrix or any other)";

/// A shard read from the environment, and where it came from (for the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The 1-based shard.
    pub shard: Shard,
    /// Which variables gave it, like `SLURM_ARRAY_TASK_ID=0 of 0-2`.
    pub from: String,
}

/// The shard of this task, from `var` (the environment, or a table in tests).
pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Found, String> {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if let Some(id) = get("SLURM_ARRAY_TASK_ID") {
        return slurm(&id, &get);
    }
    if let Some(index) = get("JOB_COMPLETION_INDEX") {
        let count = required(
            &get,
            "LAB_SHARDS",
            "JOB_COMPLETION_INDEX",
            "the Job's completions, in the pod's env",
        )?;
        return zero_based("JOB_COMPLETION_INDEX", &index, "LAB_SHARDS", &count);
    }
    if let Some(index) = get("CI_NODE_INDEX") {
        let total = required(
            &get,
            "CI_NODE_TOTAL",
            "CI_NODE_INDEX",
            "the job's `parallel:` count",
        )?;
        return one_based("CI_NODE_INDEX", &index, "CI_NODE_TOTAL", &total);
    }
    if let Some(index) = get("LAB_SHARD_INDEX") {
        let count = required(
            &get,
            "LAB_SHARDS",
            "LAB_SHARD_INDEX",
            "the number of shards",
        )?;
        return one_based("LAB_SHARD_INDEX", &index, "LAB_SHARDS", &count);
    }
    Err(format!(
        "--shard auto: no scheduler's shard in the environment (looked at {LOOKED_AT}); run it \
         as a task of one of these, set LAB_SHARD_INDEX and LAB_SHARDS, or give --shard I/N"
    ))
}

/// The count variable that must come with an index variable.
fn required(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    with: &str,
    what: &str,
) -> Result<String, String> {
    get(name).ok_or_else(|| {
        format!("--shard auto: {with} is set but {name} is not; set {name} to {what}")
    })
}

/// A whole number from variable `name`.
fn number(name: &str, value: &str) -> Result<i64, String> {
    value.trim().parse().map_err(|_| {
        format!("--shard auto: {name}=`{value}` is not a whole number; the scheduler or the job script set it wrong")
    })
}

/// A count above 0 that fits a shard.
fn count_of(name: &str, value: &str) -> Result<u32, String> {
    match u32::try_from(number(name, value)?) {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(format!(
            "--shard auto: {name}={value} is not a shard count; it must be 1 or more"
        )),
    }
}

/// The shard `position` (0-based) of `count`, or why it is out of range.
fn shard(position: i64, count: u32, from: String) -> Result<Found, String> {
    match u32::try_from(position) {
        Ok(p) if p < count => Ok(Found {
            shard: Shard {
                index: p + 1,
                count,
            },
            from,
        }),
        _ => Err(format!(
            "--shard auto: {from} is not one of {count} shards; the index must be within the count"
        )),
    }
}

fn zero_based(name: &str, index: &str, count_name: &str, count: &str) -> Result<Found, String> {
    let count = count_of(count_name, count)?;
    let from = format!(
        "{name}={} (0-based) with {count_name}={count}",
        index.trim()
    );
    shard(number(name, index)?, count, from)
}

fn one_based(name: &str, index: &str, count_name: &str, count: &str) -> Result<Found, String> {
    let count = count_of(count_name, count)?;
    let from = format!(
        "{name}={} (1-based) with {count_name}={count}",
        index.trim()
    );
    shard(number(name, index)? - 1, count, from)
}

/// Slurm: the task's place in the array's range (MIN..MAX by STEP), or, without the range,
/// an id from 0 below COUNT.
fn slurm(id: &str, get: &impl Fn(&str) -> Option<String>) -> Result<Found, String> {
    let task = number("SLURM_ARRAY_TASK_ID", id)?;
    let (Some(min), Some(max)) = (get("SLURM_ARRAY_TASK_MIN"), get("SLURM_ARRAY_TASK_MAX")) else {
        let count = required(
            get,
            "SLURM_ARRAY_TASK_COUNT",
            "SLURM_ARRAY_TASK_ID",
            "the array's task count (or set SLURM_ARRAY_TASK_MIN and _MAX)",
        )?;
        return zero_based("SLURM_ARRAY_TASK_ID", id, "SLURM_ARRAY_TASK_COUNT", &count);
    };
    let (min, max) = (
        number("SLURM_ARRAY_TASK_MIN", &min)?,
        number("SLURM_ARRAY_TASK_MAX", &max)?,
    );
    let step = match get("SLURM_ARRAY_TASK_STEP") {
        Some(s) => number("SLURM_ARRAY_TASK_STEP", &s)?.max(1),
        None => 1,
    };
    let range = format!(
        "--array={min}-{max}{}",
        if step > 1 {
            format!(":{step}")
        } else {
            String::new()
        }
    );
    let from = format!("SLURM_ARRAY_TASK_ID={task} of {range}");
    if max < min || task < min || task > max || (task - min) % step != 0 {
        return Err(format!(
            "--shard auto: {from}: the task id is not in the array's range; submit with sbatch --array=0-N"
        ));
    }
    let count = count_of("the array", &((max - min) / step + 1).to_string())?;
    if let Some(listed) = get("SLURM_ARRAY_TASK_COUNT") {
        if number("SLURM_ARRAY_TASK_COUNT", &listed)? != i64::from(count) {
            return Err(format!(
                "--shard auto: SLURM_ARRAY_TASK_COUNT={} but {range} has {count} tasks; the array \
                 has gaps or a list, submit one range like sbatch --array=0-{}",
                listed.trim(),
                i64::from(count) - 1
            ));
        }
    }
    shard((task - min) / step, count, from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Found, String> {
        let table: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_env(|name| table.get(name).cloned())
    }

    fn shard_of(vars: &[(&str, &str)]) -> (u32, u32) {
        let found = read(vars).unwrap_or_else(|e| panic!("{vars:?}: {e}"));
        (found.shard.index, found.shard.count)
    }

    fn error_of(vars: &[(&str, &str)]) -> String {
        let message = read(vars).expect_err("refused");
        assert!(message.starts_with("--shard auto: "), "{message}");
        assert_eq!(message.lines().count(), 1, "{message}");
        message
    }

    fn slurm_vars<'a>(
        id: &'a str,
        min: &'a str,
        max: &'a str,
        count: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("SLURM_ARRAY_TASK_ID", id),
            ("SLURM_ARRAY_TASK_MIN", min),
            ("SLURM_ARRAY_TASK_MAX", max),
            ("SLURM_ARRAY_TASK_COUNT", count),
        ]
    }

    #[test]
    fn slurm_arrays_from_0_or_from_min_map_to_1_based_shards() {
        assert_eq!(shard_of(&slurm_vars("0", "0", "2", "3")), (1, 3));
        assert_eq!(shard_of(&slurm_vars("2", "0", "2", "3")), (3, 3));
        assert_eq!(shard_of(&slurm_vars("1", "1", "4", "4")), (1, 4));
        assert_eq!(shard_of(&slurm_vars("4", "1", "4", "4")), (4, 4));
        assert_eq!(shard_of(&slurm_vars("12", "10", "13", "4")), (3, 4));
        // --array=0-6:2 runs ids 0, 2, 4, 6.
        let mut stepped = slurm_vars("4", "0", "6", "4");
        stepped.push(("SLURM_ARRAY_TASK_STEP", "2"));
        assert_eq!(shard_of(&stepped), (3, 4));
        // Only the id and the count: ids from 0.
        let only_count = [
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ];
        assert_eq!(shard_of(&only_count), (2, 2));
        let found = read(&slurm_vars("1", "0", "2", "3")).unwrap();
        assert_eq!(found.from, "SLURM_ARRAY_TASK_ID=1 of --array=0-2");
    }

    #[test]
    fn slurm_mistakes_are_one_line_with_the_fix() {
        let gaps = error_of(&slurm_vars("3", "1", "7", "3"));
        assert!(gaps.contains("has gaps or a list"), "{gaps}");
        let outside = error_of(&slurm_vars("5", "0", "2", "3"));
        assert!(outside.contains("not in the array's range"), "{outside}");
        let beyond = error_of(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert!(beyond.contains("not one of 3 shards"), "{beyond}");
        let no_count = error_of(&[("SLURM_ARRAY_TASK_ID", "0")]);
        assert!(
            no_count.contains("SLURM_ARRAY_TASK_COUNT is not"),
            "{no_count}"
        );
        let words = error_of(&slurm_vars("x", "0", "2", "3"));
        assert!(
            words.contains("SLURM_ARRAY_TASK_ID=`x` is not a whole number"),
            "{words}"
        );
    }

    #[test]
    fn kubernetes_indexed_jobs_are_0_based_with_lab_shards() {
        let vars = [("JOB_COMPLETION_INDEX", "0"), ("LAB_SHARDS", "3")];
        assert_eq!(shard_of(&vars), (1, 3));
        let vars = [("JOB_COMPLETION_INDEX", "2"), ("LAB_SHARDS", "3")];
        assert_eq!(shard_of(&vars), (3, 3));
        let missing = error_of(&[("JOB_COMPLETION_INDEX", "0")]);
        assert_eq!(
            missing,
            "--shard auto: JOB_COMPLETION_INDEX is set but LAB_SHARDS is not; set LAB_SHARDS to the Job's completions, in the pod's env"
        );
        let over = error_of(&[("JOB_COMPLETION_INDEX", "3"), ("LAB_SHARDS", "3")]);
        assert!(over.contains("not one of 3 shards"), "{over}");
        let zero = error_of(&[("JOB_COMPLETION_INDEX", "0"), ("LAB_SHARDS", "0")]);
        assert!(zero.contains("LAB_SHARDS=0 is not a shard count"), "{zero}");
    }

    #[test]
    fn gitlab_parallel_and_the_lab_variables_are_1_based() {
        let vars = [("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "4")];
        assert_eq!(shard_of(&vars), (1, 4));
        let vars = [("CI_NODE_INDEX", "4"), ("CI_NODE_TOTAL", "4")];
        assert_eq!(shard_of(&vars), (4, 4));
        let zero = error_of(&[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "4")]);
        assert!(zero.contains("not one of 4 shards"), "{zero}");
        let vars = [("LAB_SHARD_INDEX", "2"), ("LAB_SHARDS", "2")];
        assert_eq!(shard_of(&vars), (2, 2));
        let negative = error_of(&[("LAB_SHARD_INDEX", "2"), ("LAB_SHARDS", "-2")]);
        assert!(
            negative.contains("LAB_SHARDS=-2 is not a shard count"),
            "{negative}"
        );
        let lone = error_of(&[("LAB_SHARD_INDEX", "2")]);
        assert!(
            lone.contains("LAB_SHARD_INDEX is set but LAB_SHARDS is not"),
            "{lone}"
        );
    }

    #[test]
    fn the_first_scheduler_in_order_wins() {
        let mut all = slurm_vars("1", "0", "1", "2");
        all.extend([
            ("JOB_COMPLETION_INDEX", "0"),
            ("LAB_SHARDS", "5"),
            ("CI_NODE_INDEX", "3"),
            ("CI_NODE_TOTAL", "3"),
            ("LAB_SHARD_INDEX", "4"),
        ]);
        assert_eq!(shard_of(&all), (2, 2), "Slurm first");
        assert_eq!(shard_of(&all[4..]), (1, 5), "then Kubernetes");
        assert_eq!(shard_of(&all[6..]), (3, 3), "then GitLab");
        let lab = [
            ("LAB_SHARD_INDEX", "4"),
            ("LAB_SHARDS", "5"),
            ("SLURM_ARRAY_TASK_ID", ""),
        ];
        assert_eq!(shard_of(&lab), (4, 5), "an empty variable counts as unset");
    }

    #[test]
    fn nothing_found_names_every_variable_looked_at_and_the_fix() {
        let none = error_of(&[("SLURM_JOB_ID", "7"), ("LAB_SHARDS", "3")]);
        for name in [
            "SLURM_ARRAY_TASK_ID",
            "JOB_COMPLETION_INDEX",
            "CI_NODE_INDEX",
            "LAB_SHARD_INDEX",
            "--shard I/N",
        ] {
            assert!(none.contains(name), "{name} in {none}");
        }
    }
}
