//! Worker threads, the shape nginx's and Envoy's workers have: one thread
//! per core, each running a current-thread runtime with its own accepting
//! socket on every listener port (`SO_REUSEPORT`: the kernel spreads new
//! connections over the sockets). A connection then lives on the worker
//! that accepted it, with that worker's idle upstream connections: nothing
//! on the request path is handed to another core, and no work-stealing
//! scheduler moves tasks between them.
//!
//! The control plane (loading, translation, the admin API, the Kubernetes
//! watches) runs on the caller's runtime, off the workers.

use std::io;
use std::thread;

use tokio::runtime::{Builder, Handle};

/// Running workers, each a thread that drives its runtime for as long as
/// the process lives.
#[derive(Debug)]
pub(crate) struct Workers {
    handles: Vec<Handle>,
}

impl Workers {
    /// `count` worker threads (at least one), each with a started runtime.
    pub(crate) fn start(count: usize) -> io::Result<Workers> {
        let handles = (0..count.max(1))
            .map(start_one)
            .collect::<io::Result<Vec<Handle>>>()?;
        Ok(Workers { handles })
    }

    pub(crate) fn handles(&self) -> &[Handle] {
        &self.handles
    }
}

fn start_one(index: usize) -> io::Result<Handle> {
    let runtime = Builder::new_current_thread().enable_all().build()?;
    let handle = runtime.handle().clone();
    thread::Builder::new()
        // Short enough for the kernel's 15-byte thread names (top, ps).
        .name(format!("vst-worker-{index}"))
        // Drives the runtime until the process exits: its tasks are the
        // accept loops and their connections, which the data plane's
        // shutdown drains before `main` returns.
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_worker_runs_tasks_on_its_own_thread() {
        let workers = Workers::start(2).unwrap();
        let names: Vec<String> = workers
            .handles()
            .iter()
            .map(|handle| {
                let (tx, rx) = std::sync::mpsc::channel();
                handle.spawn(async move {
                    tx.send(thread::current().name().unwrap_or("").to_owned())
                        .unwrap();
                });
                rx.recv().unwrap()
            })
            .collect();
        assert_eq!(names, ["vst-worker-0", "vst-worker-1"]);
    }
}
