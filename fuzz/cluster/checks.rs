//! The properties checked after every step. Local ones hold for every server whatever it was
//! told (a refused step changes nothing; the term and commit index never go down; one vote per
//! term); cluster-wide ones only among honest servers, since a forged message can make a
//! server believe anything (one leader per term, identical applied entries).

use std::collections::HashMap;

use super::model::{Entry, Observed, LEADER, STEP_CODES};

#[derive(Default)]
pub struct Checks {
    /// (server, term) -> the vote it cast (Raft §3.4: at most one vote per term).
    votes: HashMap<(u64, u64), u64>,
    /// term -> the honest server that led it (election safety, Raft §3.6.3).
    leaders: HashMap<u64, u64>,
    /// index -> the entry honest servers applied there (state machine safety, Raft §3.6.3).
    applied: HashMap<u64, (u64, Entry)>,
    /// index -> the honest state machines' digest after applying it (snapshots included).
    digests: HashMap<u64, (u64, u64)>,
}

impl Checks {
    /// A refused step: a documented code, and nothing the host can read has changed.
    pub fn refused(&self, id: u64, what: &str, code: i32, before: &Observed, after: &Observed) {
        assert!(STEP_CODES.contains(&code), "server {id}: {what} returned unknown code {code}");
        assert_eq!(before, after, "server {id}: {what} failed with {code} but changed the state");
    }

    /// An accepted step: the term and commit index did not go down, and the vote is the
    /// only one of its term.
    pub fn accepted(&mut self, id: u64, what: &str, before: &Observed, after: &Observed) {
        assert!(
            after.term >= before.term,
            "server {id}: {what} moved the term back from {} to {}",
            before.term,
            after.term
        );
        assert!(
            after.commit >= before.commit,
            "server {id}: {what} moved the commit index back from {} to {}",
            before.commit,
            after.commit
        );
        self.vote(id, after);
    }

    /// Records the vote of an observation (also right after a restart).
    pub fn vote(&mut self, id: u64, o: &Observed) {
        if o.vote != 0 {
            let first = *self.votes.entry((id, o.term)).or_insert(o.vote);
            assert_eq!(
                first, o.vote,
                "server {id} voted for {first} and {} in term {}",
                o.vote, o.term
            );
        }
    }

    /// One leader per term among honest servers.
    pub fn leader(&mut self, id: u64, o: &Observed) {
        if o.state == LEADER {
            let first = *self.leaders.entry(o.term).or_insert(id);
            assert_eq!(first, id, "servers {first} and {id} both lead term {}", o.term);
        }
    }

    /// An honest server applied `entry` at `index`, reaching `digest`.
    pub fn applied(&mut self, id: u64, index: u64, entry: &Entry, digest: u64) {
        let (first_id, first) = self.applied.entry(index).or_insert((id, entry.clone())).clone();
        assert_eq!(
            &first, entry,
            "servers {first_id} and {id} applied different entries at index {index}"
        );
        self.digest(id, index, digest);
    }

    /// An honest state machine's digest after `index` (applied or restored from a snapshot).
    pub fn digest(&mut self, id: u64, index: u64, digest: u64) {
        let (first_id, first) = *self.digests.entry(index).or_insert((id, digest));
        assert_eq!(
            first, digest,
            "servers {first_id} and {id} have different state machines after index {index}"
        );
    }
}
