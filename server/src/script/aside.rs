//! Scripts on a one-thread process (`--threads 1`, a current-thread runtime): a script run
//! in the process's one thread would leave no thread to read SCRIPT KILL or answer `-BUSY`.
//! So a shard connection there hands EVAL (and a router's `TXN EVAL`) to one helper thread
//! and awaits its reply; the runtime's thread goes on serving the other connections, which
//! wait for the script (as in Redis) until `--lua-time-limit`, then get `-BUSY`, and SCRIPT
//! KILL stops it. Costs a hand-off to the helper thread per script, on such processes only.
//!
//! ```text
//! handler::serve ─▶ wanted? ─▶ reply ─▶ helper thread: handler::reply ─▶ oneshot ─▶ serve
//! ```

use std::cell::Cell;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use protocol::{Frame, Request};
use serve::session::Session;

use crate::state::ShardState;

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// True on the helper thread: a script there is not alone in its process.
    static ASIDE: Cell<bool> = const { Cell::new(false) };
}

/// True while running on the helper thread.
pub(crate) fn on_helper() -> bool {
    ASIDE.with(Cell::get)
}

/// Returns true when this connection runs on a current-thread runtime (asked once per
/// connection, so a request pays a branch on a local).
pub fn one_thread() -> bool {
    use tokio::runtime::{Handle, RuntimeFlavor};
    Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread)
}

/// Returns true for a request to run on the helper thread: EVAL, EVALSHA, EVAL_RO,
/// EVALSHA_RO, or a router's `TXN EVAL`.
pub fn wanted(request: &Request) -> bool {
    let name = |i: usize, n: &[u8]| {
        request
            .args
            .get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(n))
    };
    name(0, b"EVAL")
        || name(0, b"EVALSHA")
        || name(0, b"EVAL_RO")
        || name(0, b"EVALSHA_RO")
        || (name(0, b"TXN") && name(1, b"EVAL"))
}

/// Scripts handed to the helper thread and not finished. Only the runtime's one thread
/// hands scripts over, so its check and count cannot race another's.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Runs `request` on the helper thread and awaits its reply, the session lent to it. While
/// the helper runs another script, runs it here instead: it waits for that script (the
/// runtime's thread with it, as every client waits in Redis) until the time limit, then
/// gets `-BUSY`, and the thread is free again to read SCRIPT KILL.
pub async fn reply(request: Request, session: &mut Session, shard: &Arc<ShardState>) -> Frame {
    if IN_FLIGHT.load(SeqCst) > 0 {
        return crate::handler::reply(request, session, shard);
    }
    IN_FLIGHT.fetch_add(1, SeqCst);
    let placeholder = Session::new(session.id(), &shard.server_config);
    let mut lent = std::mem::replace(session, placeholder);
    let shard = shard.clone();
    let (done, answer) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let frame = crate::handler::reply(request, &mut lent, &shard);
        IN_FLIGHT.fetch_sub(1, SeqCst);
        let _ = done.send((frame, lent));
    });
    if !matches!(helper().lock().map(|h| h.send(job)), Ok(Ok(()))) {
        IN_FLIGHT.fetch_sub(1, SeqCst);
        return Frame::error("ERR the script thread is gone");
    }
    match answer.await {
        Ok((frame, lent)) => {
            *session = lent;
            frame
        }
        Err(_) => Frame::error("ERR the script thread is gone"),
    }
}

/// The helper thread, started on first use.
fn helper() -> &'static Mutex<mpsc::Sender<Job>> {
    static HELPER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    HELPER.get_or_init(|| {
        let (send, jobs) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("jumpcache-scripts".into())
            .spawn(move || {
                ASIDE.with(|a| a.set(true));
                for job in jobs {
                    job();
                }
            })
            .expect("spawn the script thread");
        Mutex::new(send)
    })
}
