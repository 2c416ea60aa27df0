//! The JSON carried in `RaftAppendEntriesReq.req`: the fields of C-Raft's
//! `struct raft_append_entries`, plus the sender's ID (`raft_message.server_id`, named
//! `leader_id` as in the seed's InstallSnapshot request):
//!
//! ```json
//! {"leader_id":1,"term":3,"prev_log_index":7,"prev_log_term":2,"leader_commit":7,
//!  "entries":[{"term":3,"type":1,"data":"eyJrZXkiOiJhIiwidmFsdWUiOiIxIn0="}]}
//! ```
//!
//! `type` is C-Raft's `enum raft_entry_type` (1 command, 2 barrier, 3 configuration change);
//! `data` is the payload in standard base64 with padding, of any length for commands and
//! barriers (as `raft_step` accepts), a multiple of 8 bytes for configuration changes (C-Raft's
//! configuration encoding always is, and the node stores it unframed). `entries` may be omitted
//! when empty. Unknown fields are rejected, so a typo is reported instead of silently ignored.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use raft::codec::Entry;
use raft::core::{EntryType, Id, Index, Term};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendEntriesJson {
    pub leader_id: Id,
    pub term: Term,
    pub prev_log_index: Index,
    pub prev_log_term: Term,
    pub leader_commit: Index,
    #[serde(default)]
    pub entries: Vec<EntryJson>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryJson {
    pub term: Term,
    #[serde(rename = "type")]
    pub kind: u8,
    pub data: String,
}

impl EntryJson {
    pub fn from_entry(e: &Entry) -> EntryJson {
        EntryJson { term: e.term, kind: e.kind.code(), data: STANDARD.encode(&e.payload) }
    }

    pub fn to_entry(&self) -> Result<Entry, String> {
        let kind = EntryType::from_code(self.kind.into())
            .ok_or_else(|| format!("unknown entry type {}", self.kind))?;
        let data = STANDARD.decode(&self.data).map_err(|e| format!("bad base64 data: {e}"))?;
        if kind == EntryType::Change && data.len() % 8 != 0 {
            return Err(format!(
                "configuration entry data is {} bytes, not a multiple of 8 (not a C-Raft \
                 configuration encoding)",
                data.len()
            ));
        }
        Ok(Entry::new(self.term, kind, data))
    }
}

/// Parses and checks a request. The error says what is wrong, for the error response.
pub fn parse(text: &str) -> Result<(AppendEntriesJson, Vec<Entry>), String> {
    let req: AppendEntriesJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if req.term == 0 || req.leader_id == 0 {
        return Err("term and leader_id must not be 0".into());
    }
    let entries = req.entries.iter().map(EntryJson::to_entry).collect::<Result<_, _>>()?;
    Ok((req, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_entries() {
        let entry = Entry::new(3, EntryType::Command, vec![1u8; 8]);
        let req = AppendEntriesJson {
            leader_id: 1,
            term: 3,
            prev_log_index: 7,
            prev_log_term: 2,
            leader_commit: 7,
            entries: vec![EntryJson::from_entry(&entry)],
        };
        let (back, entries) = parse(&serde_json::to_string(&req).unwrap()).unwrap();
        assert_eq!((back.term, back.prev_log_index), (3, 7));
        assert_eq!(entries, [entry]);
    }

    #[test]
    fn rejects_garbage_and_bad_fields() {
        assert!(parse("not json").is_err());
        assert!(parse(r#"{"leader_id":1,"term":1,"prev_log_index":0}"#).is_err());
        let base =
            r#""leader_id":1,"term":2,"prev_log_index":1,"prev_log_term":1,"leader_commit":1"#;
        assert!(parse(&format!("{{{base}}}")).is_ok());
        assert!(parse(&format!("{{{base},\"extra\":1}}")).is_err());
        let bad_type = format!(r#"{{{base},"entries":[{{"term":2,"type":9,"data":""}}]}}"#);
        assert!(parse(&bad_type).unwrap_err().contains("type"));
        let bad_data = format!(r#"{{{base},"entries":[{{"term":2,"type":1,"data":"!"}}]}}"#);
        assert!(parse(&bad_data).unwrap_err().contains("base64"));
    }

    /// The service carries commands and barriers of any length, as `raft_step` accepts them.
    #[test]
    fn accepts_commands_and_barriers_of_any_length() {
        let base =
            r#""leader_id":1,"term":2,"prev_log_index":1,"prev_log_term":1,"leader_commit":1"#;
        for len in [0, 1, 7, 9, 13, 4099] {
            let data = STANDARD.encode(vec![5u8; len]);
            for kind in [1, 2] {
                let text =
                    format!(r#"{{{base},"entries":[{{"term":2,"type":{kind},"data":"{data}"}}]}}"#);
                let (_, entries) = parse(&text).unwrap();
                assert_eq!(entries[0].payload.len(), len);
            }
        }
        let change = format!(r#"{{{base},"entries":[{{"term":2,"type":3,"data":"AAAAAAA="}}]}}"#);
        assert!(parse(&change).unwrap_err().contains("5 bytes, not a multiple of 8"));
    }
}
