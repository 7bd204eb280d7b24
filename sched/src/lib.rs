//! The CPU scheduling policy of the calling thread, and of the threads it starts afterwards.
//!
//! A shard serves routers that pipeline: it is a throughput server. Under `SCHED_BATCH` the
//! kernel does not let a woken shard preempt the task running on that CPU (a router, a
//! client); the shard runs at the next scheduling point instead and finds more requests
//! waiting, so it wakes less often and answers more per read and per write. Measured on
//! 2 cores (docs/benchmarks.md): router + 2 shards, redis-benchmark `-c 50 -P 1`, about 25%
//! more requests per second and 25% less CPU per request. It changes nothing on an idle
//! machine: a wake-up on an idle CPU runs at once under either policy. The price is latency
//! on a busy CPU (a woken shard may wait up to a scheduler slice), so `--sched batch` is
//! opt-in; `normal` is the default.

use std::io;

/// A scheduling policy for the kernel's fair class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `SCHED_OTHER`: a woken thread may preempt the one running.
    Normal,
    /// `SCHED_BATCH`: a woken thread waits for the next scheduling point (same share of CPU).
    Batch,
}

/// Sets the calling thread's policy, keeping its nice value; threads it starts afterwards
/// inherit it (call it before the runtime starts its threads).
///
/// # Errors
/// The system call's error; `Unsupported` where the policy does not exist (not Linux).
pub fn set_policy(policy: Policy) -> io::Result<()> {
    imp::set_policy(policy)
}

/// Returns the calling thread's policy, `None` when it is neither of the two.
///
/// # Errors
/// The system call's error; `Unsupported` off Linux.
pub fn policy() -> io::Result<Option<Policy>> {
    imp::policy()
}

#[cfg(target_os = "linux")]
mod imp {
    use super::Policy;
    use std::io;

    pub(super) fn set_policy(policy: Policy) -> io::Result<()> {
        let which = match policy {
            Policy::Normal => libc::SCHED_OTHER,
            Policy::Batch => libc::SCHED_BATCH,
        };
        // Both policies take static priority 0; the nice value is a separate attribute the
        // call leaves alone.
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` is a valid, initialised sched_param
        // that outlives the call, which only reads it.
        let rc = unsafe { libc::sched_setscheduler(0, which, &param) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub(super) fn policy() -> io::Result<Option<Policy>> {
        // SAFETY: pid 0 is the calling thread; the call takes no pointers.
        let rc = unsafe { libc::sched_getscheduler(0) };
        match rc {
            libc::SCHED_OTHER => Ok(Some(Policy::Normal)),
            libc::SCHED_BATCH => Ok(Some(Policy::Batch)),
            -1 => Err(io::Error::last_os_error()),
            _ => Ok(None),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::Policy;
    use std::io;

    pub(super) fn set_policy(_: Policy) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn policy() -> io::Result<Option<Policy>> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn a_thread_switches_to_batch_and_back_and_its_children_inherit_it() {
        std::thread::spawn(|| {
            set_policy(Policy::Batch).unwrap();
            assert_eq!(policy().unwrap(), Some(Policy::Batch));
            let child = std::thread::spawn(|| policy().unwrap()).join().unwrap();
            assert_eq!(
                child,
                Some(Policy::Batch),
                "threads started later inherit it"
            );
            set_policy(Policy::Normal).unwrap();
            assert_eq!(policy().unwrap(), Some(Policy::Normal));
        })
        .join()
        .unwrap();
    }
}
