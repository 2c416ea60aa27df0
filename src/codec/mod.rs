//! C-Raft's formats as pure functions over bytes: no files, no sockets.

pub mod configuration;
