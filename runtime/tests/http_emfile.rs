//! A server out of descriptors (`EMFILE`) does not strand the connections queued behind it:
//! each is either served or closed at once (libuv's reserve-descriptor trick), never left
//! hanging in the accept queue; once descriptors are free again, new connections are served.
//!
//! The limit must be lowered for the server only (the clients need descriptors too), so this
//! binary plays two roles (`harness = false`):
//! 1. without `LOOPLAB_EMFILE_SERVER` it is the test: it starts itself again as the server,
//!    reads the port from the child's stdout, and drives clients;
//! 2. with it, it is the server: binds, prints the port, lowers `RLIMIT_NOFILE` to a few
//!    descriptors above those open, and serves until its stdin closes (the parent exiting or
//!    dropping its guard), so it cannot outlive the test. The guard also kills and reaps it.
//!
//! Every client read has a 5 s timeout: a hang fails the test instead of stalling it.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use looplab_runtime::http::{HttpServer, Response, ServerOptions};
use looplab_runtime::{EventLoop, RunMode};

const ROLE_ENV: &str = "LOOPLAB_EMFILE_SERVER";
/// Descriptors left to the server above those open when it lowers its limit.
const SPARE_FDS: u64 = 4;
/// Connections opened against it at once: several times what it can hold.
const CONNECTIONS: usize = 24;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn main() {
    if std::env::var_os(ROLE_ENV).is_some() {
        serve();
    } else {
        queued_connections_are_served_or_closed_not_stranded();
        println!("test queued_connections_are_served_or_closed_not_stranded ... ok");
    }
}

/// The server role.
fn serve() {
    let lp = EventLoop::new().expect("create the loop");
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let server = HttpServer::bind(&lp, addr, ServerOptions::default(), |lp, req, res| {
        res.send(lp, Response::text(200, req.path));
    })
    .expect("bind");
    let port = server.local_addr().expect("the bound address").port();
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    lower_fd_limit();
    // Descriptor numbers below the highest may be free (holes): fill them all, then give back
    // exactly SPARE_FDS. The fillers stay open for the life of the process.
    let mut fillers = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        fillers.push(file);
    }
    fillers.truncate(fillers.len().saturating_sub(SPARE_FDS as usize));
    println!("{port}");
    let _ = std::io::stdout().flush();
    lp.run(RunMode::Default);
    drop(fillers);
}

fn lower_fd_limit() {
    let highest = std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    let limit = libc::rlimit {
        rlim_cur: highest + 1 + SPARE_FDS,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain get/setrlimit calls with valid pointers to `rlimit` structs.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut current), 0);
        let limit = libc::rlimit {
            rlim_max: current.rlim_max,
            ..limit
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// Kills and reaps the server child however the test ends.
struct ServerChild(Child);

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (ServerChild, SocketAddr) {
    let exe = std::env::current_exe().expect("this test binary");
    let mut child = Command::new(exe)
        .env(ROLE_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server child");
    let stdout = child.stdout.take().expect("piped stdout");
    let child = ServerChild(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the port");
    let port: u16 = line.trim().parse().expect("the child prints its port");
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Served,
    Closed,
}

/// Sends one request and waits for its answer or a close; panics on a hang.
fn ask(stream: &mut TcpStream, what: &str) -> Outcome {
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    if stream
        .write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        .is_err()
    {
        return Outcome::Closed;
    }
    let mut buf = [0u8; 512];
    match stream.read(&mut buf) {
        Ok(0) => Outcome::Closed,
        Ok(n) if buf[..n].starts_with(b"HTTP/1.1 200 ") => Outcome::Served,
        Ok(n) => panic!(
            "{what}: unexpected {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("{what}: neither served nor closed within {IO_TIMEOUT:?} (stranded)")
        }
        Err(_) => Outcome::Closed, // reset
    }
}

fn queued_connections_are_served_or_closed_not_stranded() {
    let (_child, addr) = start_server();
    let mut conns: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect"))
        .collect();
    let outcomes: Vec<Outcome> = conns
        .iter_mut()
        .enumerate()
        .map(|(i, c)| ask(c, &format!("connection {i}")))
        .collect();
    let served = outcomes.iter().filter(|o| **o == Outcome::Served).count();
    assert!(served >= 1, "nothing served: {outcomes:?}");
    assert!(
        served < CONNECTIONS,
        "the limit was not reached: {outcomes:?}"
    );
    drop(conns);
    // Descriptors come back as the server sees the closes; new connections are served again.
    let deadline = Instant::now() + 4 * IO_TIMEOUT;
    loop {
        let mut fresh = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect again");
        if ask(&mut fresh, "a connection after the closes") == Outcome::Served {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not served again after the closes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
