//! Test-only hooks inside the store: injected panics at named points (to prove that a panic
//! halfway through changing a segment leaves nothing half-updated for later operations) and
//! a per-thread record of eviction victims (to prove a write never evicts its own key).
//!
//! Outside `cfg(test)` both are empty inline functions.

#[cfg(test)]
use std::cell::{Cell, RefCell};

#[cfg(test)]
thread_local! {
    /// The point at which this thread's next pass panics, once.
    static ARMED: Cell<Option<&'static str>> = const { Cell::new(None) };
    /// Keys this thread evicted since it last called [`take_victims`].
    static VICTIMS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Makes this thread's next pass through [`fault`] `name` panic (once).
#[cfg(test)]
pub(super) fn arm(name: &'static str) {
    ARMED.with(|a| a.set(Some(name)));
}

/// Returns the keys this thread evicted since the last call, and forgets them.
#[cfg(test)]
pub(super) fn take_victims() -> Vec<Vec<u8>> {
    VICTIMS.with(|v| std::mem::take(&mut *v.borrow_mut()))
}

/// Panics if this thread armed `name` (tests only); does nothing otherwise.
#[inline(always)]
pub(super) fn fault(name: &'static str) {
    #[cfg(test)]
    ARMED.with(|a| {
        if a.get() == Some(name) {
            a.set(None);
            panic!("injected fault at {name}");
        }
    });
    #[cfg(not(test))]
    let _ = name;
}

/// Records that this thread evicted `key` (tests only).
#[inline(always)]
pub(super) fn evicted(key: &[u8]) {
    #[cfg(test)]
    VICTIMS.with(|v| v.borrow_mut().push(key.to_vec()));
    #[cfg(not(test))]
    let _ = key;
}
