//! Presentation of the core's state for people and monitoring tools: text formats built from
//! the core's plain values, so that the core itself stays free of any output format.

pub mod metrics_json;

pub use metrics_json::metrics_json;
