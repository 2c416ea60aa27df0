//! The JSON form of [`Metrics`], shared by the C API (`raft_metrics_json`) and the Rust API.
//! Written by hand: the shape is fixed and small, and the library takes no JSON dependency.
//!
//! ```json
//! {"id":1,"address":"127.0.0.1:7001","state":"leader","role":"voter",
//!  "current_term":2,"voted_for":1,"last_log_index":7,"last_log_term":2,
//!  "commit_index":7,"last_applied":7,"snapshot_index":0,"snapshot_term":0,
//!  "current_leader":{"id":1,"address":"127.0.0.1:7001"},
//!  "membership_config":{"index":1,"committed":true,
//!    "servers":[{"id":1,"address":"127.0.0.1:7001","role":"voter"}, ...]},
//!  "replication":[{"id":2,"address":"127.0.0.1:7002","match_index":7,"next_index":8,
//!    "mode":"pipeline"}, ...]}
//! ```
//!
//! `role` and `current_leader` are `null` when unknown; `replication` is `null` except on a
//! leader. Numbers are unsigned 64-bit integers.

use std::fmt::Write;

use super::configuration::Server;
use super::metrics::{Metrics, PeerProgress};
use super::types::{Role, State};

impl Metrics {
    /// The JSON text described in the module documentation, on one line.
    pub fn to_json(&self) -> String {
        let mut o = Object::new();
        o.number("id", self.id);
        o.string("address", &self.address);
        o.string("state", state_name(self.state));
        o.raw("role", &self.role.map_or_else(|| "null".to_string(), |r| quote(role_name(r))));
        o.number("current_term", self.current_term);
        o.number("voted_for", self.voted_for);
        o.number("last_log_index", self.last_log_index);
        o.number("last_log_term", self.last_log_term);
        o.number("commit_index", self.commit_index);
        o.number("last_applied", self.last_applied);
        o.number("snapshot_index", self.snapshot_index);
        o.number("snapshot_term", self.snapshot_term);
        o.raw("current_leader", &self.leader_json());
        o.raw("membership_config", &self.membership_json());
        o.raw("replication", &self.replication_json());
        o.finish()
    }

    fn leader_json(&self) -> String {
        match &self.current_leader {
            None => "null".to_string(),
            Some((id, address)) => {
                let mut o = Object::new();
                o.number("id", *id);
                o.string("address", address);
                o.finish()
            }
        }
    }

    fn membership_json(&self) -> String {
        let config = &self.membership_config;
        let servers: Vec<String> = config.configuration.servers.iter().map(server_json).collect();
        let mut o = Object::new();
        o.number("index", config.index);
        o.raw("committed", if config.committed { "true" } else { "false" });
        o.raw("servers", &format!("[{}]", servers.join(",")));
        o.finish()
    }

    fn replication_json(&self) -> String {
        match &self.replication {
            None => "null".to_string(),
            Some(peers) => {
                let peers: Vec<String> = peers.iter().map(peer_json).collect();
                format!("[{}]", peers.join(","))
            }
        }
    }
}

fn server_json(s: &Server) -> String {
    let mut o = Object::new();
    o.number("id", s.id);
    o.string("address", &s.address);
    o.string("role", role_name(s.role));
    o.finish()
}

fn peer_json(p: &PeerProgress) -> String {
    let mut o = Object::new();
    o.number("id", p.id);
    o.string("address", &p.address);
    o.number("match_index", p.match_index);
    o.number("next_index", p.next_index);
    o.string("mode", p.mode.name());
    o.finish()
}

fn state_name(state: State) -> &'static str {
    match state {
        State::Follower => "follower",
        State::Candidate => "candidate",
        State::Leader => "leader",
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Standby => "stand-by",
        Role::Voter => "voter",
        Role::Spare => "spare",
    }
}

/// A JSON object being written member by member.
struct Object {
    text: String,
}

impl Object {
    fn new() -> Object {
        Object { text: String::from("{") }
    }

    fn raw(&mut self, key: &str, value: &str) {
        if self.text.len() > 1 {
            self.text.push(',');
        }
        self.text.push_str(&quote(key));
        self.text.push(':');
        self.text.push_str(value);
    }

    fn number(&mut self, key: &str, value: u64) {
        self.raw(key, &value.to_string());
    }

    fn string(&mut self, key: &str, value: &str) {
        self.raw(key, &quote(value));
    }

    fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

/// `text` as a JSON string literal. Addresses are host-chosen, so anything may be in them.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::*;

    #[test]
    fn quotes_control_characters_and_delimiters() {
        assert_eq!(quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }

    #[test]
    fn json_of_a_follower_is_valid_and_complete() {
        let raft = started(2, &[1, 2, 3]);
        let text = raft.metrics(1).to_json();
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["id"], 2);
        assert_eq!(v["state"], "follower");
        assert_eq!(v["role"], "voter");
        assert_eq!(v["last_applied"], 1);
        assert!(v["current_leader"].is_null());
        assert!(v["replication"].is_null());
        assert_eq!(v["membership_config"]["servers"][2]["address"], "node-3");
    }

    #[test]
    fn json_of_a_leader_lists_peers() {
        let (raft, _) = leader(&[1, 2, 3]);
        let v: serde_json::Value = serde_json::from_str(&raft.metrics(0).to_json()).unwrap();
        assert_eq!(v["state"], "leader");
        assert_eq!(v["current_leader"]["id"], 1);
        assert_eq!(v["replication"][1]["id"], 3);
        assert_eq!(v["replication"][0]["mode"], "probe");
        assert_eq!(v["replication"][1]["mode"], "pipeline", "3 acknowledged the barrier");
    }
}
