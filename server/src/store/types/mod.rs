//! The collection types a key can hold besides a string: hashes, sets, sorted sets and
//! lists, each in a small packed form and a large one (as Redis's encodings), each keeping
//! a count of its bytes so the store charges a collection for its elements.

pub mod hash;
pub mod hashed;
mod leb128;
pub mod list;
pub mod packed;
pub mod set;
pub mod zset;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use zset::ZSet;

use packed::Packed;

/// Bytes charged per element on top of its own bytes, by form: what a packed element costs
/// besides its bytes is in its framing (counted by `bytes`); an element of a large form
/// costs its allocation's header and rounding and its share of the index's nodes (measured:
/// docs/benchmarks.md, "Collections").
const PER_ELEMENT_PACKED: usize = 0;
const PER_ELEMENT_LARGE: usize = 4;
/// A large sorted set keeps each member twice (by hash and by score), in chunks whose
/// slack its bytes do not count (measured 64.7 B of RSS per member, 51.8 counted).
const PER_MEMBER_LARGE_ZSET: usize = 13;

/// What a key holds: Redis's types (`TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjType {
    String,
    List,
    Set,
    ZSet,
    Hash,
}

impl ObjType {
    /// Returns `TYPE`'s reply (and `SCAN ... TYPE`'s argument).
    pub fn name(self) -> &'static str {
        match self {
            ObjType::String => "string",
            ObjType::List => "list",
            ObjType::Set => "set",
            ObjType::ZSet => "zset",
            ObjType::Hash => "hash",
        }
    }

    /// Returns the type `SCAN ... TYPE name` asks for (case-insensitive, as Redis).
    pub fn from_name(name: &[u8]) -> Option<ObjType> {
        [
            ObjType::String,
            ObjType::List,
            ObjType::Set,
            ObjType::ZSet,
            ObjType::Hash,
        ]
        .into_iter()
        .find(|t| t.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

/// A collection type's place in [`Collection`]: what the commands of one type unwrap.
pub trait Typed: Sized {
    /// Its `TYPE`.
    const TYPE: ObjType;
    /// Returns it from a collection the store checked is of [`Self::TYPE`].
    fn of(c: &Collection) -> &Self;
    /// As [`of`](Self::of), to change it.
    fn of_mut(c: &mut Collection) -> &mut Self;
}

macro_rules! typed {
    ($t:ident, $variant:ident, $obj:ident) => {
        impl Typed for $t {
            const TYPE: ObjType = ObjType::$obj;
            fn of(c: &Collection) -> &$t {
                match c {
                    Collection::$variant(x) => x,
                    _ => unreachable!("typed by the store"),
                }
            }
            fn of_mut(c: &mut Collection) -> &mut $t {
                match c {
                    Collection::$variant(x) => x,
                    _ => unreachable!("typed by the store"),
                }
            }
        }
    };
}
typed!(Hash, Hash, Hash);
typed!(Set, Set, Set);
typed!(ZSet, ZSet, ZSet);
typed!(List, List, List);

/// A collection value.
#[derive(Debug, Clone, PartialEq)]
pub enum Collection {
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
    List(List),
}

impl Collection {
    /// Returns an empty collection of type `t` (not [`ObjType::String`]).
    ///
    /// # Panics
    /// For [`ObjType::String`].
    pub fn new(t: ObjType) -> Collection {
        match t {
            ObjType::Hash => Collection::Hash(Hash::default()),
            ObjType::Set => Collection::Set(Set::default()),
            ObjType::ZSet => Collection::ZSet(ZSet::default()),
            ObjType::List => Collection::List(List::default()),
            ObjType::String => panic!("a string is not a collection"),
        }
    }

    /// Returns its type.
    pub fn obj_type(&self) -> ObjType {
        match self {
            Collection::Hash(_) => ObjType::Hash,
            Collection::Set(_) => ObjType::Set,
            Collection::ZSet(_) => ObjType::ZSet,
            Collection::List(_) => ObjType::List,
        }
    }

    /// Returns the number of elements.
    pub fn len(&self) -> usize {
        match self {
            Collection::Hash(h) => h.len(),
            Collection::Set(s) => s.len(),
            Collection::ZSet(z) => z.len(),
            Collection::List(l) => l.len(),
        }
    }

    /// Returns true when it has no element (the store then removes the key, as Redis).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns Redis's name for the form it is in (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        match self {
            Collection::Hash(h) => h.encoding(),
            Collection::Set(s) => s.encoding(),
            Collection::ZSet(z) => z.encoding(),
            Collection::List(l) => l.encoding(),
        }
    }

    /// Returns its packed elements, when it is in a small form (stored with its key in one
    /// allocation; see `segment::Entry`).
    pub fn packed(&self) -> Option<&[u8]> {
        match self {
            Collection::Hash(Hash::Packed(p)) => Some(p.as_bytes()),
            Collection::Set(Set::Packed(p)) => Some(p.as_bytes()),
            Collection::ZSet(ZSet::Packed(p)) => Some(p.as_bytes()),
            _ => None,
        }
    }

    /// Returns the collection of type `t` whose small form's elements are `packed`.
    pub fn from_packed(t: ObjType, packed: &[u8]) -> Collection {
        let p = Packed::from_bytes(packed);
        match t {
            ObjType::Hash => Collection::Hash(Hash::Packed(p)),
            ObjType::Set => Collection::Set(Set::Packed(p)),
            ObjType::ZSet => Collection::ZSet(ZSet::Packed(p)),
            ObjType::List | ObjType::String => Collection::new(t),
        }
    }

    /// Returns what it is charged against `max_memory`, its key and entry aside.
    pub fn weight(&self) -> u64 {
        let (bytes, per) = match self {
            Collection::Hash(h @ Hash::Packed(_)) => (h.bytes(), PER_ELEMENT_PACKED),
            Collection::Hash(h) => (h.bytes(), PER_ELEMENT_LARGE),
            Collection::Set(s) if s.is_packed() => (s.bytes(), PER_ELEMENT_PACKED),
            Collection::Set(s) => (s.bytes(), PER_ELEMENT_LARGE),
            Collection::ZSet(z) if z.is_packed() => (z.bytes(), PER_ELEMENT_PACKED),
            Collection::ZSet(z) => (z.bytes(), PER_MEMBER_LARGE_ZSET),
            // Its chunks' overhead is in its bytes.
            Collection::List(l) => (l.bytes(), 0),
        };
        (bytes + per * self.len()) as u64
    }
}
