//! The CPU scheduling policy and the nice value of the calling thread, and of the threads it
//! starts afterwards.
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

/// Lowers the calling thread's priority by `steps` nice steps (Linux keeps a nice value per
/// thread); threads it starts afterwards inherit it. For background work, such as a
/// snapshot being written, that should take the CPU only when the threads serving clients
/// do not want it.
///
/// # Errors
/// The system call's error; `Unsupported` off Linux.
pub fn lower_priority(steps: i32) -> io::Result<()> {
    imp::lower_priority(steps)
}

/// Returns the calling thread's nice value.
///
/// # Errors
/// The system call's error; `Unsupported` off Linux.
pub fn nice_value() -> io::Result<i32> {
    imp::nice_value()
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

    pub(super) fn nice_value() -> io::Result<i32> {
        // getpriority's -1 is also a valid nice value: errno tells them apart.
        // SAFETY: errno is the calling thread's own; who 0 is the calling thread (Linux
        // keeps nice per thread), and the call takes no pointers.
        let rc = unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, 0)
        };
        let e = io::Error::last_os_error();
        match (rc, e.raw_os_error()) {
            (-1, Some(errno)) if errno != 0 => Err(e),
            _ => Ok(rc),
        }
    }

    pub(super) fn lower_priority(steps: i32) -> io::Result<()> {
        let now = nice_value()?;
        let to = (now + steps.max(0)).min(19);
        // SAFETY: who 0 is the calling thread; the call takes no pointers.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, to) };
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

    pub(super) fn lower_priority(_: i32) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn nice_value() -> io::Result<i32> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn a_thread_lowers_its_own_priority_only() {
        let before = nice_value().unwrap();
        let (mine, child) = std::thread::spawn(move || {
            lower_priority(5).unwrap();
            let child = std::thread::spawn(|| nice_value().unwrap()).join().unwrap();
            (nice_value().unwrap(), child)
        })
        .join()
        .unwrap();
        assert_eq!(mine, (before + 5).min(19));
        assert_eq!(child, mine, "threads started later inherit it");
        assert_eq!(
            nice_value().unwrap(),
            before,
            "the other threads keep theirs"
        );
    }

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
