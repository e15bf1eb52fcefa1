//! The `cluster` strategy of `lab serve`: a primary that only supervises, and worker processes
//! (this same program re-executed) that each run the loop strategy on connections the primary's
//! policy gives them.
//!
//! Supervision (`cluster_watch`): the address is announced once every worker listens; each
//! exit is one line on stderr (workers' stderr is forwarded, its last line kept for that
//! report); a worker dying before it listens without `--restart`, the restart limit, or every
//! worker gone without a shutdown asked for stop the primary with an error (exit 2). Each
//! worker has its own temp folder (with its copy of the served file), removed when it is reaped.
//!
//! Shutdown order (SIGINT or SIGTERM to the primary, or a failure):
//! 1. the primary asks every worker to stop ([`Cluster::shutdown`], 5 s grace, then SIGKILL);
//! 2. each worker closes its HTTP server gracefully, answers what it already received, exits 0;
//! 3. the primary reaps every worker, gets `AllExited`, and its loop ends.
//!
//! Workers ignore SIGINT: Ctrl-C at a terminal goes to the whole process group, and a worker
//! that died of it would drop its in-flight requests while the primary was draining them. So
//! Ctrl-C drains exactly as SIGTERM to the primary does (as a shell's job control expects of a
//! supervisor such as nginx's master). SIGTERM to a worker still ends that worker.
//!
//! Sampling ([`ShutdownHandle::sample`]): the primary forwards each request to every live worker
//! over the cluster IPC; each worker answers the window of its own loop and the primary merges
//! them (`cluster_probe`). Open requests are dropped on shutdown, so their callers fail at once.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;

use looplab_runtime::cluster::{Cluster, ClusterEvent, ClusterSpec, WorkerRole};
use looplab_runtime::http::{HttpServer, ServerOptions};
use looplab_runtime::{EventLoop, RunMode};

use super::cluster_probe::{answer_probes, Gathers};
use super::cluster_watch::Watch;
use super::handle::ProbeEndpoint;
use super::probe::LoopProbe;
use super::{app_on_loop, on_shutdown, validate, ServeSummary, ShutdownHandle};
use crate::deploy::Deployment;
use crate::error::WorkloadError;
use crate::experiments::io_err;

/// Last stderr lines kept per worker, for the report of its exit.
const STDERR_TAIL_LINES: usize = 5;

/// Runs the primary: starts the workers (re-executing this program with its own arguments),
/// reports their exits on stderr, and stops them all when `listening`'s handle is used, or on
/// a failure (`cluster_watch`), which it then returns.
pub(super) fn primary(
    spec: &Deployment,
    bind: SocketAddr,
    listening: impl FnOnce(SocketAddr, ShutdownHandle) + 'static,
) -> Result<ServeSummary, WorkloadError> {
    let children = spec.processes;
    // The primary runs no handler; its loop only supervises.
    let lp = EventLoop::new().map_err(io_err("create the event loop"))?;
    let watch = Rc::new(Watch::new(children));
    let gathers: Rc<RefCell<Gathers>> = Rc::default();
    // Each worker's temp folder goes in here, and goes when the worker is reaped.
    let workers_tmp = crate::experiments::private_tempdir("looplab-cluster-")
        .map_err(io_err("create a temp dir for the cluster's workers"))?;
    let cluster = Rc::new(start_cluster(
        &lp,
        spec,
        bind,
        workers_tmp.path(),
        &watch,
        &gathers,
    )?);
    let endpoint = Rc::new(probe_endpoint(&lp, &cluster, &gathers));
    let (stopping, closing, watching) =
        (Rc::clone(&cluster), Rc::clone(&endpoint), Rc::clone(&watch));
    let stop = on_shutdown(&lp, move |lp| {
        watching.stopping();
        stopping.shutdown(lp, 5_000);
        closing.close(lp);
        gathers.borrow_mut().clear();
    });
    let handle = ShutdownHandle::for_loop(stop.clone(), &endpoint);
    watch.arm(Box::new(move |addr| listening(addr, handle)), stop);
    lp.run(RunMode::Default);
    endpoint.close(&lp);
    if let Some(reason) = watch.failure() {
        return Err(WorkloadError::ClusterStopped { reason });
    }
    Ok(summary(&cluster))
}

/// Starts the workers of `spec`, each event going to `watch` and, for probes, to `gathers`.
fn start_cluster(
    lp: &EventLoop,
    spec: &Deployment,
    bind: SocketAddr,
    temp_root: &Path,
    watch: &Rc<Watch>,
    gathers: &Rc<RefCell<Gathers>>,
) -> Result<Cluster, WorkloadError> {
    let (children, policy, restart) = (spec.processes, spec.policy, spec.restart);
    let mut cluster_spec = ClusterSpec::for_current_exe(children, bind)
        .map_err(io_err("find this program to start its workers"))?;
    cluster_spec.policy = policy;
    cluster_spec.restart = restart;
    cluster_spec.stderr_tail_lines = STDERR_TAIL_LINES;
    cluster_spec.temp_root = Some(temp_root.to_path_buf());
    let (watch, answers) = (Rc::clone(watch), Rc::clone(gathers));
    let cluster = Cluster::start(lp, cluster_spec, move |_, cluster, event| {
        match &event {
            ClusterEvent::Message { id, bytes } => {
                answers.borrow_mut().on_message(*id, bytes);
            }
            ClusterEvent::Exit { id, .. } => answers.borrow_mut().on_exit(*id),
            _ => {}
        }
        watch.on_event(&event, cluster.local_addr());
    })?;
    Ok(cluster)
}

/// The endpoint `ShutdownHandle::sample` asks: it gathers every worker's window.
fn probe_endpoint(
    lp: &EventLoop,
    cluster: &Rc<Cluster>,
    gathers: &Rc<RefCell<Gathers>>,
) -> ProbeEndpoint {
    // A weak reference: the probe must not keep the cluster (and its workers) alive.
    let (asked, asking) = (Rc::downgrade(cluster), Rc::clone(gathers));
    ProbeEndpoint::open(lp, move |lp, reply| {
        if let Some(cluster) = asked.upgrade() {
            Gathers::start(&asking, lp, &cluster, reply);
        }
    })
}

/// Connections handed to each worker, for the exit message.
fn summary(cluster: &Cluster) -> ServeSummary {
    let lines: Vec<String> = cluster
        .connections_handed()
        .into_iter()
        .map(|(id, n)| format!("worker {id} was handed {n} connections"))
        .collect();
    ServeSummary {
        requests: 0,
        cluster: lines,
    }
}

/// Runs one cluster worker: the loop strategy, fed by the primary's policy, until the primary
/// says stop (or goes away).
pub fn serve_cluster_worker(
    spec: &Deployment,
    role: WorkerRole,
) -> Result<ServeSummary, WorkloadError> {
    validate(spec)?;
    spec.costs.install()?;
    ignore_sigint()?;
    let id = role.id().map_or("?".to_string(), |id| id.to_string());
    let (lp, app, _dir) = app_on_loop(spec, Some(format!("worker-{id}")))?;
    let channel = role
        .connect(&lp)
        .map_err(io_err("connect to the cluster primary"))?;
    let handler_app = Rc::clone(&app);
    let server = Rc::new(HttpServer::without_listener(
        &lp,
        ServerOptions::default(),
        move |lp, req, res| handler_app.handle(lp, req, res),
    ));
    let serving = Rc::clone(&server);
    channel
        .listen(&lp, move |lp, stream| serving.adopt(lp, stream))
        .map_err(io_err("serve the cluster's address"))?;
    let probe = LoopProbe::start(&lp, Rc::clone(&app));
    let slot = Rc::new(RefCell::new(Some(channel.clone())));
    answer_probes(&lp, &channel, Rc::clone(&probe), Rc::clone(&slot));
    let stopping = Rc::clone(&server);
    channel.on_shutdown(&lp, move |lp| {
        stopping.close(lp, 5_000, |_| {});
        probe.stop(lp);
        slot.borrow_mut().take();
    });
    drop(channel);
    lp.run(RunMode::Default);
    Ok(ServeSummary {
        requests: app.answered.get(),
        cluster: Vec::new(),
    })
}

/// Ignores SIGINT in this worker (see the module documentation): the primary drives shutdown.
fn ignore_sigint() -> Result<(), WorkloadError> {
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory effects and replaces
    // whatever handler was there (the harness' Ctrl-C handler, which would exit at once).
    let previous = unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    if previous == libc::SIG_ERR {
        return Err(io_err("ignore SIGINT in a cluster worker")(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
