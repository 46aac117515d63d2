#![forbid(unsafe_code)]
pub mod provider;
