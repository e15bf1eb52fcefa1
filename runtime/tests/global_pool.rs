//! The process pool reads `UV_THREADPOOL_SIZE` at its first use, with libuv's clamping, and
//! cannot be resized afterwards. One test in its own binary: the pool is process-wide.

use looplab_runtime::{EventLoop, RunMode, RuntimeError, ThreadPool, WorkSpec};

#[test]
fn the_global_pool_is_sized_from_the_environment_at_first_use() {
    // Creating a loop does not read the variable; the first submission does (like libuv).
    std::env::set_var("UV_THREADPOOL_SIZE", "2000");
    let lp = EventLoop::new().expect("create loop");
    std::env::set_var("UV_THREADPOOL_SIZE", "3");
    lp.queue_work(WorkSpec::cpu("first use"), || (), |_, ()| {});
    assert_eq!(lp.pool().size(), 3);
    assert!(lp.pool().is_started());
    lp.run(RunMode::Default);

    std::env::set_var("UV_THREADPOOL_SIZE", "8");
    assert_eq!(ThreadPool::global().size(), 3, "read once, like libuv");
    assert!(ThreadPool::configure_global(3).is_ok());
    assert_eq!(
        ThreadPool::configure_global(4).err(),
        Some(RuntimeError::PoolAlreadyStarted {
            running: 3,
            wanted: 4
        })
    );
    assert_eq!(
        ThreadPool::configure_global(0).err(),
        Some(RuntimeError::PoolSize(0))
    );
}
