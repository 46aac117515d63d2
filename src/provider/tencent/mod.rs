//! The Tencent Cloud adapter: CVM 2017-03-12 (instances) and TAT 2020-10-28 (commands).

mod client;
mod cvm;
pub mod errors;
mod select;
pub use stopgate_vendor::tencent::sign;
mod tat;

pub use client::TencentClient;
