//! The replicated state machine: a string-to-string map. Commands are JSON objects
//! `{"key":..,"value":..}`, of any length (the storage frames them for C-Raft's segment format).
//! Snapshots are the JSON of the whole map.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Put {
    key: String,
    value: String,
}

#[derive(Default)]
pub struct Store {
    map: BTreeMap<String, String>,
}

/// The log payload of `key = value`.
pub fn encode_put(key: &str, value: &str) -> Vec<u8> {
    serde_json::to_vec(&Put { key: key.into(), value: value.into() })
        .expect("strings always serialise")
}

impl Store {
    /// Applies a committed command. A payload that is not a command is ignored: every node
    /// ignores it alike, so the replicas stay identical.
    pub fn apply(&mut self, payload: &[u8]) {
        if let Ok(put) = serde_json::from_slice::<Put>(payload) {
            self.map.insert(put.key, put.value);
        }
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.map.get(key)
    }

    pub fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(&self.map).expect("a string map always serialises")
    }

    /// Replaces the map with the snapshot `data` reads, parsed as it is read, so that a
    /// snapshot never sits in memory beside the map it becomes.
    pub fn restore(&mut self, data: impl std::io::Read) -> Result<(), serde_json::Error> {
        self.map = serde_json::from_reader(std::io::BufReader::new(data))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_exact_json_and_applied() {
        let payload = encode_put("k", "v");
        assert_eq!(payload, br#"{"key":"k","value":"v"}"#, "23 bytes, unpadded");
        let mut store = Store::default();
        store.apply(&payload);
        assert_eq!(store.get("k").map(String::as_str), Some("v"));
        let mut copy = Store::default();
        copy.restore(&store.snapshot()[..]).unwrap();
        assert_eq!(copy.get("k").map(String::as_str), Some("v"));
    }
}
