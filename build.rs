// Gives the shared library the soname C-Raft uses, so hosts linked against `libraft.so.0`
// load ours unchanged.
fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libraft.so.0");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
