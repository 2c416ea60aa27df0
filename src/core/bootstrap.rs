//! The durable state of a brand-new cluster (docs/contract.md#host-loop): term 1, no vote,
//! and one `Change` entry at index 1 holding the initial configuration. Every initial voter
//! must store byte-identical state, so it is built in one place from the configuration alone.

use super::configuration::{Configuration, ConfigurationFormat};
use super::error::Error;
use super::event::Event;
use super::message::EntryView;
use super::types::{EntryType, Id, Index, Term};

/// What a pristine server stores to found a cluster, and the `Start` event that loads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bootstrap {
    pub term: Term,
    pub voted_for: Id,
    /// Index of the bootstrap entry (always 1).
    pub index: Index,
    /// The encoded configuration: the payload of the `Change` entry, term `term`.
    pub payload: Vec<u8>,
}

impl Bootstrap {
    /// The bootstrap state of `conf`, which must have at least one voter (otherwise no server
    /// could ever be elected), its entry encoded with `format` (the one the servers will read
    /// it back with).
    pub fn new(conf: &Configuration, format: &dyn ConfigurationFormat) -> Result<Bootstrap, Error> {
        if conf.voter_count() == 0 {
            return Err(Error::Invalid("a bootstrap configuration needs a voter".into()));
        }
        Ok(Bootstrap { term: 1, voted_for: 0, index: 1, payload: format.encode(conf) })
    }

    /// The bootstrap entry, borrowing the payload.
    pub fn entry(&self) -> EntryView<'_> {
        EntryView { term: self.term, kind: EntryType::Change, payload: &self.payload }
    }

    /// The `Start` event of a server that has just stored this state; `entries` must be
    /// `[self.entry()]`.
    pub fn start_event<'a>(&self, entries: &'a [EntryView<'a>]) -> Event<'a> {
        Event::Start {
            term: self.term,
            voted_for: self.voted_for,
            snapshot: None,
            start_index: self.index,
            entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{conf, TEST_FORMAT};
    use crate::core::{Raft, Role, State};

    #[test]
    fn bootstrapped_servers_store_identical_state() {
        let a = Bootstrap::new(&conf(&[1, 2, 3]), &TEST_FORMAT).unwrap();
        let b = Bootstrap::new(&conf(&[1, 2, 3]), &TEST_FORMAT).unwrap();
        assert_eq!(a, b);
        assert_eq!((a.term, a.voted_for, a.index), (1, 0, 1));
    }

    #[test]
    fn rejects_a_configuration_without_voters() {
        let mut c = Configuration::new();
        c.add(1, "a", Role::Standby).unwrap();
        assert!(matches!(Bootstrap::new(&c, &TEST_FORMAT), Err(Error::Invalid(_))));
    }

    #[test]
    fn single_voter_bootstrap_starts_as_leader() {
        let b = Bootstrap::new(&conf(&[1]), &TEST_FORMAT).unwrap();
        let entries = [b.entry()];
        let mut raft = Raft::new(1, "node-1", &TEST_FORMAT);
        raft.step(0, 0, b.start_event(&entries), None).unwrap();
        assert_eq!(raft.state(), State::Leader);
        assert_eq!(raft.commit_index(), 1);
    }
}
