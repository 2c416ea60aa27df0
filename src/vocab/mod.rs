//! The vocabulary every layer shares: identifiers, terms, indexes, roles, entry kinds, the
//! limits on them, and configurations.
//!
//! This is a leaf: it imports nothing from the crate. The protocol (`core`), the byte formats
//! (`codec`) and the C boundary (`ffi`) all build on it, so that neither the core nor the codec needs
//! the other: `core -> vocab <- codec`, and only `ffi` sees both.

#![forbid(unsafe_code)]

pub mod configuration;
pub mod types;

pub use configuration::{Configuration, ConfigurationError, ConfigurationFormat, Server};
pub use types::{
    CatchUpStatus, EntryType, Id, Index, Role, State, Term, Time, MAX_INDEX, MAX_TERM,
};
