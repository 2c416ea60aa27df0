//! Generates the gRPC code of the seed's wolf.raft service and of our key-value service with
//! protoc (Debian's `protobuf-compiler`, or any protoc found through `PROTOC`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tonic_prost_build::configure()
        .compile_protos(&["proto/raft.proto", "proto/kv.proto"], &["proto"])?;
    Ok(())
}
