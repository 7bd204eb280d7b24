//! What the collection commands (hashes, sets, sorted sets, lists) share: the store's
//! refusals as replies, the *SCAN arguments and reply, and the random-count argument of
//! HRANDFIELD / SRANDMEMBER / ZRANDMEMBER.

use bytes::Bytes;
use protocol::command::{parse_cursor, parse_i64};
use protocol::{text, CommandError, Frame};
use serve::glob::glob_match;

use crate::store::types::Typed;
use crate::store::{Store, StoreError};

/// Returns the reply, or Redis's error when the store refused the command.
pub(super) fn reply(result: Result<Frame, StoreError>) -> Frame {
    result.unwrap_or_else(super::strings::store_error)
}

/// Runs `f` on the collection of type `T` at `key` as a read; `missing` when there is none.
pub(super) fn read<T: Typed>(
    store: &Store,
    key: &[u8],
    missing: Frame,
    f: impl FnOnce(&T) -> Frame,
) -> Frame {
    reply(
        store
            .read_collection(key, T::TYPE, |c| f(T::of(c)))
            .map(|r| r.unwrap_or(missing)),
    )
}

/// Runs `f` on the collection of type `T` at `key` to change it, creating it when `create`;
/// `missing` when there is none and `create` is false.
pub(super) fn write<T: Typed>(
    store: &Store,
    key: &[u8],
    create: bool,
    missing: Frame,
    f: impl FnOnce(&mut T) -> Frame,
) -> Frame {
    reply(
        store
            .write_collection(key, T::TYPE, create, |c| f(T::of_mut(c)))
            .map(|r| r.unwrap_or(missing)),
    )
}

/// Returns an element as a bulk reply (a copy: the store's bytes stay under its lock).
pub(super) fn bulk(b: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(b))
}

/// The arguments of HSCAN / SSCAN / ZSCAN after the key.
pub(super) struct ScanArgs<'a> {
    pub(super) cursor: u64,
    pub(super) pattern: Option<&'a [u8]>,
    pub(super) count: usize,
}

impl ScanArgs<'_> {
    /// Returns true when `element` passes MATCH.
    pub(super) fn matches(&self, element: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, element))
    }
}

/// Reads `cursor [MATCH pattern] [COUNT count]`, as Redis's `scanGenericCommand`.
///
/// # Errors
/// Redis's reply: an invalid cursor, a COUNT below 1, an unknown option.
pub(super) fn scan_args(args: &[Bytes]) -> Result<ScanArgs<'_>, Frame> {
    let Some(cursor) = parse_cursor(&args[0]) else {
        return Err(Frame::error(text::INVALID_CURSOR));
    };
    let mut out = ScanArgs {
        cursor,
        pattern: None,
        count: 10,
    };
    let mut i = 1;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Err(CommandError::Syntax.to_frame());
        };
        match args[i].to_ascii_uppercase().as_slice() {
            b"COUNT" => match parse_i64(value) {
                Some(n) if n >= 1 => out.count = usize::try_from(n).unwrap_or(usize::MAX),
                Some(_) => return Err(CommandError::Syntax.to_frame()),
                None => return Err(CommandError::NotInteger.to_frame()),
            },
            b"MATCH" => out.pattern = Some(value).filter(|p| p.as_ref() != b"*").map(|p| &p[..]),
            _ => return Err(CommandError::Syntax.to_frame()),
        }
        i += 2;
    }
    Ok(out)
}

/// Returns `[next-cursor, [element ...]]`.
pub(super) fn scan_reply(next: u64, elements: Vec<Frame>) -> Frame {
    Frame::Array(vec![
        Frame::Bulk(Bytes::from(next.to_string())),
        Frame::Array(elements),
    ])
}

/// A random-count argument: how many, and whether the same element may come back more
/// than once (a negative count).
#[derive(Debug, Clone, Copy)]
pub(super) struct RandomCount {
    pub(super) count: usize,
    pub(super) repeats: bool,
}

/// Reads the count of HRANDFIELD / SRANDMEMBER / ZRANDMEMBER (`-LONG_MAX..=LONG_MAX`);
/// with values, Redis also refuses a count beyond `LONG_MAX/2` either way.
///
/// # Errors
/// Not an integer, or out of range, in Redis's words.
pub(super) fn random_count(arg: &[u8], with_values: bool) -> Result<RandomCount, Frame> {
    let Some(n) = parse_i64(arg) else {
        return Err(CommandError::NotInteger.to_frame());
    };
    if n == i64::MIN {
        return Err(Frame::error(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
        return Err(Frame::error("ERR value is out of range"));
    }
    Ok(RandomCount {
        count: usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX),
        repeats: n < 0,
    })
}

/// Returns a random u64.
pub(super) fn random() -> u64 {
    rand::random()
}
