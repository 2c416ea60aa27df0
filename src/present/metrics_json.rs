//! The JSON form of the core's [`Metrics`], shared by the C API (`raft_metrics_json`) and the
//! Rust API.
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

use crate::core::{Metrics, PeerProgress, ReplicationMode, Role, Server, State};

/// The JSON text of `m` described in the module documentation, on one line.
pub fn metrics_json(m: &Metrics) -> String {
    let mut o = Object::new();
    o.number("id", m.id);
    o.string("address", &m.address);
    o.string("state", state_name(m.state));
    o.raw("role", &m.role.map_or_else(|| "null".to_string(), |r| quote(role_name(r))));
    o.number("current_term", m.current_term);
    o.number("voted_for", m.voted_for);
    o.number("last_log_index", m.last_log_index);
    o.number("last_log_term", m.last_log_term);
    o.number("commit_index", m.commit_index);
    o.number("last_applied", m.last_applied);
    o.number("snapshot_index", m.snapshot_index);
    o.number("snapshot_term", m.snapshot_term);
    o.raw("current_leader", &leader_json(m));
    o.raw("membership_config", &membership_json(m));
    o.raw("replication", &replication_json(m));
    o.finish()
}

fn leader_json(m: &Metrics) -> String {
    match &m.current_leader {
        None => "null".to_string(),
        Some((id, address)) => {
            let mut o = Object::new();
            o.number("id", *id);
            o.string("address", address);
            o.finish()
        }
    }
}

fn membership_json(m: &Metrics) -> String {
    let config = &m.membership_config;
    let servers: Vec<String> = config.configuration.servers.iter().map(server_json).collect();
    let mut o = Object::new();
    o.number("index", config.index);
    o.raw("committed", if config.committed { "true" } else { "false" });
    o.raw("servers", &format!("[{}]", servers.join(",")));
    o.finish()
}

fn replication_json(m: &Metrics) -> String {
    match &m.replication {
        None => "null".to_string(),
        Some(peers) => {
            let peers: Vec<String> = peers.iter().map(peer_json).collect();
            format!("[{}]", peers.join(","))
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
    o.string("mode", mode_name(p.mode));
    o.finish()
}

fn state_name(state: State) -> &'static str {
    match state {
        State::Follower => "follower",
        State::Candidate => "candidate",
        State::Leader => "leader",
    }
}

fn mode_name(mode: ReplicationMode) -> &'static str {
    match mode {
        ReplicationMode::Probe => "probe",
        ReplicationMode::Pipeline => "pipeline",
        ReplicationMode::Snapshot => "snapshot",
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
    use crate::present::metrics_json;

    #[test]
    fn quotes_control_characters_and_delimiters() {
        assert_eq!(quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }

    #[test]
    fn json_of_a_follower_is_valid_and_complete() {
        let raft = started(2, &[1, 2, 3]);
        let text = metrics_json(&raft.metrics(1));
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
        let v: serde_json::Value = serde_json::from_str(&metrics_json(&raft.metrics(0))).unwrap();
        assert_eq!(v["state"], "leader");
        assert_eq!(v["current_leader"]["id"], 1);
        assert_eq!(v["replication"][1]["id"], 3);
        assert_eq!(v["replication"][0]["mode"], "probe");
        assert_eq!(v["replication"][1]["mode"], "pipeline", "3 acknowledged the barrier");
    }
}
