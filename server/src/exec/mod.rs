//! Command execution: the only code that touches the store.

pub(crate) mod keys;
pub(crate) mod strings;
