//! stopgate's fuzz harnesses. Each module holds the entry points and the properties of one
//! target; `tests/prop_*.rs` include the same modules (by path) and drive them with proptest,
//! so `cargo test` checks the very properties the fuzzer hunts for. `input` turns fuzzer bytes
//! into the harnesses' inputs and exists only here.

pub mod input;
pub mod request;
pub mod responses;
pub mod signers;
pub mod sim;

/// Prints a target's decoded input when `FUZZ_SHOW` is set, to read what a reproducer holds:
/// `FUZZ_SHOW=1 fuzz/target/x86_64-unknown-linux-gnu/release/<target> <file>`.
pub fn show<T: std::fmt::Debug>(input: &T) {
    static SHOW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *SHOW.get_or_init(|| std::env::var_os("FUZZ_SHOW").is_some()) {
        eprintln!("input: {input:#?}");
    }
}
