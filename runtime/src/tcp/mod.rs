//! TCP on the loop: [`TcpListener`] and [`TcpStream`], readiness-driven in the poll phase.
//! Sockets never touch the thread pool (NODE_MODEL.md 2.3).

mod listener;
mod stream;

pub use listener::{ListenOptions, TcpListener};
pub use stream::{ReadEvent, TcpStream};
