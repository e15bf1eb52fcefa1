//! A real single-node Slurm on this machine runs the shipped recipe `deploy/slurm/sweep.sbatch`
//! as a 3-task array of a tiny sweep; `lab merge` of the folder the tasks wrote into must hold
//! exactly the points (and repetitions) `lab sweep --plan --json` lists for the whole sweep,
//! once each.
//!
//! The test starts munged (only when no munged answers), slurmctld and slurmd with a minimal
//! `slurm.conf` in a temp folder (its own ports), and a guard stops every daemon it started,
//! by the PIDs in their pid files, on success and on failure alike; the test then checks that
//! none is alive. It needs root and Debian's `slurm-wlm` and `munge` (`scripts/setup` installs
//! them); without them, or when the daemons do not come up, it fails with the reason and the
//! daemons' logs: it never skips.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the array may take: 30 to 55 s here (debug build, 2 cores, the tasks' classic
/// experiments and reports included); the bound leaves room for a busy machine.
const ARRAY_TIMEOUT: Duration = Duration::from_secs(180);

/// How long the daemons may take to bring the node up (about 1 s here).
const NODE_TIMEOUT: Duration = Duration::from_secs(30);

/// The tiny sweep: 4 points of one repetition, short windows, looplab alone.
const SWEEP: &[&str] = &[
    "--pool-sizes",
    "1",
    "--connections",
    "2",
    "--duration",
    "200ms",
    "--warmup",
    "100ms",
    "--repetitions",
    "1",
    "--runtimes",
    "looplab",
    "--strategies",
    "loop,workers",
    "--workloads",
    "hash,file",
];

const DAEMONS: [&str; 3] = [
    "/usr/sbin/munged",
    "/usr/sbin/slurmctld",
    "/usr/sbin/slurmd",
];
const CLIENTS: [&str; 5] = ["munge", "sbatch", "squeue", "sinfo", "scancel"];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lab"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// A free TCP port (bound, read, released).
fn free_port() -> u16 {
    let listener = TcpListener::bind("0.0.0.0:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// Is `pid` alive (a zombie waiting for its parent counts as gone)?
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Live processes whose name starts with `slurm` or is `munged`.
fn scheduler_processes() -> BTreeSet<(i32, String)> {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let comm = comm.trim();
        if (comm.starts_with("slurm") || comm == "munged") && alive(pid) {
            found.insert((pid, comm.to_string()));
        }
    }
    found
}

/// Runs a command to its end (reaped), with SLURM_CONF set when given.
fn run(program: &str, args: &[&str], conf: Option<&Path>) -> Output {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    if let Some(conf) = conf {
        command.env("SLURM_CONF", conf);
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}; run scripts/setup"))
}

/// Fails with the fix when the test cannot run here at all.
fn preflight() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the Slurm test starts slurmctld, slurmd and munged, which needs root; run the tests as root (CI does)"
    );
    for daemon in DAEMONS {
        assert!(
            Path::new(daemon).exists(),
            "{daemon} is missing; run scripts/setup (it installs Debian's slurm-wlm and munge)"
        );
    }
    for client in CLIENTS {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {client}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(found, "{client} is not on the PATH; run scripts/setup");
    }
}

/// A single-node Slurm in a temp folder; dropping it cancels its jobs and stops every daemon
/// it started.
struct Slurm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    /// Whether this test started munged (then it stops it too).
    started_munged: bool,
    jobs: Vec<String>,
}

impl Slurm {
    fn start() -> Slurm {
        let dir = tempfile::Builder::new()
            .prefix("lab-slurm-")
            .tempdir()
            .expect("a temp folder");
        let conf = dir.path().join("slurm.conf");
        let mut slurm = Slurm {
            dir,
            conf,
            started_munged: false,
            jobs: Vec::new(),
        };
        slurm.write_conf();
        slurm.start_munged();
        for daemon in &DAEMONS[1..] {
            let conf = slurm.conf.display().to_string();
            let out = run(daemon, &["-f", &conf], None);
            if !out.status.success() {
                panic!(
                    "{daemon} did not start: {}{}\n{}",
                    text(&out.stdout),
                    text(&out.stderr),
                    slurm.logs()
                );
            }
        }
        slurm.wait_for_idle_node();
        slurm
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_conf(&self) {
        let host = text(&run("hostname", &["-s"], None).stdout)
            .trim()
            .to_string();
        let d = self.dir.path().display();
        for sub in ["state", "slurmd", "log", "work"] {
            std::fs::create_dir_all(self.path(sub)).expect("create a Slurm folder");
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let conf = format!(
            "ClusterName=lab\nSlurmctldHost={host}(127.0.0.1)\nSlurmctldPort={}\n\
             SlurmdPort={}\nAuthType=auth/munge\nCredType=cred/munge\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             JobAcctGatherType=jobacct_gather/none\nSchedulerType=sched/builtin\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             SlurmdSpoolDir={d}/slurmd\nStateSaveLocation={d}/state\n\
             SlurmctldLogFile={d}/log/slurmctld.log\nSlurmdLogFile={d}/log/slurmd.log\n\
             SlurmUser=root\nSlurmdUser=root\nReturnToService=2\nMpiDefault=none\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN\n\
             PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
            free_port(),
            free_port()
        );
        std::fs::write(&self.conf, conf).expect("write slurm.conf");
    }

    /// Starts munged unless one already answers (then it is left alone, before and after).
    fn start_munged(&mut self) {
        if run("munge", &["-n"], None).status.success() {
            return;
        }
        let _ = std::fs::create_dir_all("/run/munge");
        run("chown", &["munge:munge", "/run/munge"], None);
        let pid_file = self.path("munged.pid").display().to_string();
        self.started_munged = true;
        let out = run(
            DAEMONS[0],
            &["--force", &format!("--pid-file={pid_file}")],
            None,
        );
        let answers = run("munge", &["-n"], None).status.success();
        assert!(
            out.status.success() && answers,
            "munged did not start: {}{} (munge -n then said: {})",
            text(&out.stdout),
            text(&out.stderr),
            text(&run("munge", &["-n"], None).stderr).trim()
        );
    }

    fn wait_for_idle_node(&self) {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < NODE_TIMEOUT {
            let out = run("sinfo", &["-h", "-o", "%T"], Some(&self.conf));
            last = format!("{}{}", text(&out.stdout), text(&out.stderr));
            if last.trim() == "idle" {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!(
            "the Slurm node was not idle within {NODE_TIMEOUT:?} (sinfo: {}); {}",
            last.trim(),
            self.logs()
        );
    }

    /// The daemons' logs and the jobs' outputs, for a failure message.
    fn logs(&self) -> String {
        let mut files: Vec<PathBuf> = ["log/slurmctld.log", "log/slurmd.log"]
            .iter()
            .map(|name| self.path(name))
            .collect();
        let mut outputs: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        outputs.sort();
        files.extend(outputs);
        files
            .iter()
            .map(|f| {
                let body = std::fs::read_to_string(f).unwrap_or_else(|e| format!("({e})"));
                let tail: Vec<&str> = body.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {} (last 30 lines)\n{}", f.display(), tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Submits the recipe as an array of `tasks` tasks; returns the job id.
    fn submit_recipe(&mut self, tasks: u32, out: &Path) -> String {
        let recipe = repo_root().join("deploy/slurm/sweep.sbatch");
        let output = self.path("%A_%a.log").display().to_string();
        let array = format!("--array=0-{}", tasks - 1);
        let work = self.path("work").display().to_string();
        let mut args: Vec<String> = ["--parsable", &array, "--output", &output, "--chdir", &work]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(recipe.display().to_string());
        args.extend(SWEEP.iter().map(|s| s.to_string()));
        args.push("--quiet".into());
        let submitted = Command::new("sbatch")
            .args(&args)
            .env("SLURM_CONF", &self.conf)
            .env("LAB", env!("CARGO_BIN_EXE_lab"))
            .env("LAB_OUT", out)
            .stdin(Stdio::null())
            .output()
            .expect("run sbatch");
        let id = text(&submitted.stdout).trim().to_string();
        assert!(
            submitted.status.success() && !id.is_empty(),
            "sbatch refused the recipe: {}\n{}",
            text(&submitted.stderr),
            self.logs()
        );
        self.jobs.push(id.clone());
        id
    }

    /// Polls squeue until the job has left the queue, within [`ARRAY_TIMEOUT`].
    fn wait_for(&self, job: &str) -> Duration {
        let started = Instant::now();
        loop {
            let out = run("squeue", &["-h", "-j", job], Some(&self.conf));
            let queued = text(&out.stdout);
            // squeue says "Invalid job id" once a finished job is purged: gone too.
            if queued.trim().is_empty() {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < ARRAY_TIMEOUT,
                "array job {job} still queued after {ARRAY_TIMEOUT:?}:\n{queued}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Sends `signal` to the PID in `pid_file`, then waits up to `wait` for it to go.
    fn stop(&self, pid_file: &Path, wait: Duration) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        if pid <= 1 || !alive(pid) {
            return None;
        }
        // SAFETY: kill(2) on a PID this test's daemon wrote; no memory is involved.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let started = Instant::now();
        while alive(pid) && started.elapsed() < wait {
            std::thread::sleep(Duration::from_millis(100));
        }
        if alive(pid) {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            std::thread::sleep(Duration::from_millis(200));
        }
        Some(pid)
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        for job in &self.jobs {
            let _ = run("scancel", &[job], Some(&self.conf));
        }
        if !self.jobs.is_empty() {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(15) {
                let out = run("squeue", &["-h"], Some(&self.conf));
                if !out.status.success() || text(&out.stdout).trim().is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        let wait = Duration::from_secs(10);
        self.stop(&self.path("slurmd.pid"), wait);
        self.stop(&self.path("slurmctld.pid"), wait);
        if self.started_munged {
            self.stop(&self.path("munged.pid"), wait);
        }
    }
}

/// `(point id, repetition)` of every repetition a plan lists.
fn planned(sweep: &[&str]) -> Vec<(String, u64)> {
    let out = lab()
        .args(["sweep", "--plan", "--json"])
        .args(sweep)
        .output()
        .expect("run lab");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let mut pairs = Vec::new();
    for point in plan["points"].as_array().expect("points") {
        let id = point["id"].as_str().expect("an id").to_string();
        for repetition in 0..point["repetitions"].as_u64().expect("repetitions") {
            pairs.push((id.clone(), repetition));
        }
    }
    pairs.sort();
    pairs
}

/// `(point id, repetition)` of every record in a results folder, sorted, duplicates kept.
fn recorded(dir: &Path) -> Vec<(String, u64)> {
    let body = std::fs::read_to_string(dir.join("results.jsonl")).expect("results.jsonl");
    let mut pairs: Vec<(String, u64)> = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let r: Value = serde_json::from_str(l).expect("a JSON line");
            let id = r["point_id"].as_str().expect("point_id").to_string();
            (id, r["repetition"].as_u64().expect("repetition"))
        })
        .collect();
    pairs.sort();
    pairs
}

/// The recipe's three tasks merge into the whole plan; nothing of the test's stays running.
#[test]
fn a_slurm_array_of_the_recipe_merges_into_the_whole_plan() {
    let began = Instant::now();
    preflight();
    let before = scheduler_processes();
    let (array_took, daemons) = {
        let mut slurm = Slurm::start();
        let up = began.elapsed();
        let shards = slurm.path("work/shards");
        let job = slurm.submit_recipe(3, &shards);
        let took = slurm.wait_for(&job);
        let folders: Vec<String> = std::fs::read_dir(&shards)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(folders.len(), 3, "{folders:?}\n{}", slurm.logs());
        for i in 1..=3 {
            let suffix = format!("-shard-{i}-of-3");
            assert!(folders.iter().any(|f| f.ends_with(&suffix)), "{folders:?}");
        }
        let merged = slurm.path("work/merged");
        let out = lab()
            .arg("merge")
            .arg(&shards)
            .arg("--out")
            .arg(&merged)
            .output();
        let out = out.expect("run lab merge");
        assert!(
            out.status.success(),
            "lab merge: {}\n{}",
            text(&out.stderr),
            slurm.logs()
        );
        let expected = planned(SWEEP);
        assert!(expected.len() >= 3, "every shard has a point: {expected:?}");
        assert_eq!(
            recorded(&merged),
            expected,
            "the merged folder against the plan"
        );
        eprintln!("slurm test: node up in {up:?}, array of 3 done in {took:?}");
        (took, slurm.dir.path().to_path_buf())
    };
    let left: BTreeSet<(i32, String)> =
        scheduler_processes().difference(&before).cloned().collect();
    assert!(left.is_empty(), "processes left after the test: {left:?}");
    assert!(
        !daemons.exists(),
        "the temp folder {} is removed",
        daemons.display()
    );
    eprintln!(
        "slurm test: {:?} in all ({array_took:?} for the array)",
        began.elapsed()
    );
}
