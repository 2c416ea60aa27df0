//! Cluster configurations: which servers exist and the role each one plays.

use std::sync::Arc;

use thiserror::Error;

use super::types::{Id, Role};

/// Why a server cannot join a configuration (C-Raft's `RAFT_BADID`, `RAFT_DUPLICATEID`,
/// `RAFT_DUPLICATEADDRESS`; each layer maps it to its own error).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ConfigurationError {
    #[error("{0}")]
    BadId(String),
    #[error("{0}")]
    DuplicateId(String),
    #[error("{0}")]
    DuplicateAddress(String),
}

/// How a configuration is written into the payload of a `Change` entry.
///
/// The protocol needs configurations from `Change` entries but must not know how they are
/// encoded, and the codec that knows must not depend on the protocol: this trait, in the layer
/// both depend on, is the meeting point. The core holds one (given to `Raft::new`) and calls it
/// only for `Change` entries, so commands cost nothing; the C boundary hands it C-Raft's codec
/// (`crate::codec::configuration::CRAFT`), tests may hand it anything that round-trips.
pub trait ConfigurationFormat: Sync {
    /// The configuration encoded in `payload`, or why the payload is not one.
    fn decode(&self, payload: &[u8]) -> Result<Configuration, String>;
    /// The payload that encodes `conf`.
    fn encode(&self, conf: &Configuration) -> Vec<u8>;
}

/// One server of a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub id: Id,
    /// Opaque to the library; the host interprets it (C-Raft's transports use "host:port").
    pub address: Arc<str>,
    pub role: Role,
}

/// The set of servers of a cluster, in the order they were added (the order matters: it is the
/// order of the encoding, and of the leadership-transfer target search).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Configuration {
    pub servers: Vec<Server>,
}

impl Configuration {
    pub fn new() -> Configuration {
        Configuration::default()
    }

    /// Appends a server after checking C-Raft's rules, in C-Raft's order: the ID is non-zero,
    /// then for each existing server a same ID is reported before a same address.
    pub fn add(&mut self, id: Id, address: &str, role: Role) -> Result<(), ConfigurationError> {
        if id == 0 {
            return Err(ConfigurationError::BadId("server ID must not be 0".into()));
        }
        for server in &self.servers {
            if server.id == id {
                return Err(ConfigurationError::DuplicateId(format!(
                    "server ID {id} is already in the configuration"
                )));
            }
            if &*server.address == address {
                return Err(ConfigurationError::DuplicateAddress(format!(
                    "address \"{address}\" is already used by server {}",
                    server.id
                )));
            }
        }
        self.servers.push(Server { id, address: Arc::from(address), role });
        Ok(())
    }

    pub fn get(&self, id: Id) -> Option<&Server> {
        self.servers.iter().find(|s| s.id == id)
    }

    pub fn role_of(&self, id: Id) -> Option<Role> {
        self.get(id).map(|s| s.role)
    }

    pub fn is_voter(&self, id: Id) -> bool {
        self.role_of(id) == Some(Role::Voter)
    }

    pub fn voters(&self) -> impl Iterator<Item = &Server> {
        self.servers.iter().filter(|s| s.role == Role::Voter)
    }

    pub fn voter_count(&self) -> usize {
        self.voters().count()
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub fn len(&self) -> usize {
        self.servers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_rejects_zero_id() {
        let mut c = Configuration::new();
        assert!(matches!(c.add(0, "a", Role::Voter), Err(ConfigurationError::BadId(_))));
        assert!(c.is_empty());
    }

    #[test]
    fn add_reports_duplicate_id_before_duplicate_address() {
        let mut c = Configuration::new();
        c.add(1, "a", Role::Voter).unwrap();
        assert!(matches!(c.add(1, "a", Role::Voter), Err(ConfigurationError::DuplicateId(_))));
        assert!(matches!(c.add(2, "a", Role::Voter), Err(ConfigurationError::DuplicateAddress(_))));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn counts_only_voters() {
        let mut c = Configuration::new();
        c.add(1, "a", Role::Voter).unwrap();
        c.add(2, "b", Role::Standby).unwrap();
        c.add(3, "c", Role::Spare).unwrap();
        c.add(4, "d", Role::Voter).unwrap();
        assert_eq!(c.voter_count(), 2);
        assert!(c.is_voter(4));
        assert!(!c.is_voter(2));
        assert_eq!(c.role_of(3), Some(Role::Spare));
        assert_eq!(c.role_of(9), None);
    }
}
