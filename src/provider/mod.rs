//! Provider adapters: one module per vendor, each with the same shape.

pub mod alibaba;
pub mod tencent;
