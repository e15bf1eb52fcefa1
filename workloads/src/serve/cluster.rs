//! The `cluster` strategy of `lab serve`: a primary that only supervises, and worker processes
//! (this same program re-executed) that each run the loop strategy on connections the primary's
//! policy gives them.
//!
//! Shutdown order (SIGINT or SIGTERM to the primary):
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
use std::rc::Rc;

use looplab_runtime::cluster::{Cluster, ClusterEvent, ClusterSpec, WorkerRole};
use looplab_runtime::http::{HttpServer, ServerOptions};
use looplab_runtime::RunMode;

use super::cluster_probe::{answer_probes, Gathers};
use super::handle::ProbeEndpoint;
use super::probe::LoopProbe;
use super::{
    app_on_loop, on_shutdown, validate, ServeSpec, ServeSummary, ShutdownHandle, Strategy,
};
use crate::experiments::{io_err, ExperimentError};

type Announce = Box<dyn FnOnce(SocketAddr)>;

/// Runs the primary: starts the workers (re-executing this program with its own arguments),
/// reports their exits on stderr, and stops them all when `listening`'s handle is used.
pub(super) fn primary(
    spec: &ServeSpec,
    listening: impl FnOnce(SocketAddr, ShutdownHandle) + 'static,
) -> Result<ServeSummary, ExperimentError> {
    let Strategy::Cluster {
        children,
        policy,
        restart,
    } = spec.strategy.clone()
    else {
        unreachable!("primary() is only called for the cluster strategy");
    };
    // The primary runs no handler; its loop only supervises.
    let lp = looplab_runtime::EventLoop::new().map_err(io_err("create the event loop"))?;
    let mut cluster_spec = ClusterSpec::for_current_exe(children, spec.bind)
        .map_err(io_err("find this program to start its workers"))?;
    cluster_spec.policy = policy;
    cluster_spec.restart = restart;
    // Announce the address once every worker listens, so load starts at full capacity.
    let announce: Rc<RefCell<Option<Announce>>> = Rc::default();
    let (to_announce, mut listening_workers) = (Rc::clone(&announce), 0);
    let gathers: Rc<RefCell<Gathers>> = Rc::default();
    let answers = Rc::clone(&gathers);
    let cluster = Rc::new(Cluster::start(
        &lp,
        cluster_spec,
        move |_, cluster, event| {
            match &event {
                ClusterEvent::Message { id, bytes } => {
                    answers.borrow_mut().on_message(*id, bytes);
                }
                ClusterEvent::Exit { id, .. } => answers.borrow_mut().on_exit(*id),
                _ => {}
            }
            if let ClusterEvent::Listening { .. } = event {
                listening_workers += 1;
                if listening_workers == children {
                    if let Some(announce) = to_announce.borrow_mut().take() {
                        announce(cluster.local_addr());
                    }
                }
            }
            if let ClusterEvent::Exit {
                id,
                pid,
                code,
                signal,
                will_restart,
                ..
            } = event
            {
                let how = match (code, signal) {
                    (Some(code), _) => format!("exited with code {code}"),
                    (None, Some(signal)) => format!("was killed by signal {signal}"),
                    _ => "ended".to_string(),
                };
                let line = format!(
                    "worker {id} (pid {pid}) {how}{}",
                    if will_restart { "; restarting" } else { "" }
                );
                eprintln!("lab serve: {line}");
            }
        },
    )?);
    // A weak reference: the probe must not keep the cluster (and its workers) alive.
    let (asked, asking) = (Rc::downgrade(&cluster), Rc::clone(&gathers));
    let endpoint = Rc::new(ProbeEndpoint::open(&lp, move |lp, reply| {
        if let Some(cluster) = asked.upgrade() {
            Gathers::start(&asking, lp, &cluster, reply);
        }
    }));
    let (stopping, closing) = (Rc::clone(&cluster), Rc::clone(&endpoint));
    let stop = on_shutdown(&lp, move |lp| {
        stopping.shutdown(lp, 5_000);
        closing.close(lp);
        gathers.borrow_mut().clear();
    });
    let handle = ShutdownHandle::for_loop(stop, &endpoint);
    *announce.borrow_mut() = Some(Box::new(move |addr| listening(addr, handle)));
    lp.run(RunMode::Default);
    endpoint.close(&lp);
    let lines: Vec<String> = cluster
        .connections_handed()
        .into_iter()
        .map(|(id, n)| format!("worker {id} was handed {n} connections"))
        .collect();
    Ok(ServeSummary {
        requests: 0,
        cluster: lines,
    })
}

/// Runs one cluster worker: the loop strategy, fed by the primary's policy, until the primary
/// says stop (or goes away).
pub fn serve_cluster_worker(
    spec: &ServeSpec,
    role: WorkerRole,
) -> Result<ServeSummary, ExperimentError> {
    validate(spec)?;
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
fn ignore_sigint() -> Result<(), ExperimentError> {
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
