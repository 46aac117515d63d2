//! stopgate's fuzz harnesses. Each module holds the entry points and the properties of one
//! target; `tests/prop_*.rs` include the same modules (by path) and drive them with proptest,
//! so `cargo test` checks the very properties the fuzzer hunts for. `input` turns fuzzer bytes
//! into the harnesses' inputs and exists only here.

pub mod input;
pub mod request;
pub mod responses;
pub mod signers;
pub mod sim;
