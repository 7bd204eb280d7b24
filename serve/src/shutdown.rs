//! The signal that tells every connection to finish: cheap to poll again and again.
//!
//! A connection polls its shutdown waiter each time its task wakes, once or twice per
//! request. tokio's `watch::Receiver::changed` takes a mutex on every such poll (about 400
//! instructions per request, measured with callgrind); a [`Wait`] registers its task's waker
//! once and afterwards costs one atomic load and a waker comparison.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A shutdown signal: [`trigger`](Shutdown::trigger) once, and every [`Wait`] completes.
/// Clones share the signal.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    triggered: AtomicBool,
    next_id: AtomicU64,
    /// The task of every waiter polled so far, by waiter id.
    waiters: Mutex<HashMap<u64, Waker>>,
}

impl Shutdown {
    /// Returns a signal not yet triggered.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Triggers the signal and wakes every waiter. Later waiters complete at once.
    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        let waiters = std::mem::take(&mut *self.lock());
        for waker in waiters.into_values() {
            waker.wake();
        }
    }

    /// Returns true once [`trigger`](Shutdown::trigger) was called.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Returns a future that completes when the signal is triggered. It is `Unpin` and may be
    /// polled through `&mut` in a loop; keep one per connection.
    pub fn wait(&self) -> Wait {
        Wait {
            shutdown: self.clone(),
            id: None,
            waker: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Waker>> {
        crate::sync::lock(&self.inner.waiters)
    }
}

/// Completes when its [`Shutdown`] is triggered. See [`Shutdown::wait`].
#[derive(Debug)]
pub struct Wait {
    shutdown: Shutdown,
    /// Its key among the waiters, once registered.
    id: Option<u64>,
    /// The waker registered last: a poll from the same task needs no lock.
    waker: Option<Waker>,
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shutdown.is_triggered() {
            return Poll::Ready(());
        }
        if self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        let this = &mut *self;
        let id = *this
            .id
            .get_or_insert_with(|| this.shutdown.inner.next_id.fetch_add(1, Ordering::Relaxed));
        this.shutdown.lock().insert(id, cx.waker().clone());
        this.waker = Some(cx.waker().clone());
        // A trigger between the first check and the insert did not see this waiter.
        if this.shutdown.is_triggered() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.shutdown.lock().remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_waiter_completes_and_later_ones_at_once() {
        let shutdown = Shutdown::new();
        let tasks: Vec<_> = (0..3).map(|_| tokio::spawn(shutdown.wait())).collect();
        tokio::task::yield_now().await;
        assert_eq!(shutdown.lock().len(), 3, "each waiter registered once");
        shutdown.trigger();
        for task in tasks {
            task.await.expect("waiter completes");
        }
        shutdown.wait().await;
        assert!(shutdown.is_triggered());
    }

    #[tokio::test]
    async fn a_dropped_waiter_leaves_nothing_behind() {
        let shutdown = Shutdown::new();
        let mut wait = shutdown.wait();
        let polled = futures_poll_once(&mut wait).await;
        assert!(polled.is_pending());
        assert_eq!(shutdown.lock().len(), 1);
        drop(wait);
        assert_eq!(shutdown.lock().len(), 0);
    }

    async fn futures_poll_once(wait: &mut Wait) -> Poll<()> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *wait).poll(cx))).await
    }
}
