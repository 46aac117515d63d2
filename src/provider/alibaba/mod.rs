//! The Alibaba Cloud adapter: ECS 2014-05-26 (instances) and Cloud Assistant (commands).

mod assistant;
mod client;
mod ecs;
pub mod errors;
mod select;
pub use stopgate_vendor::alibaba::sign;

pub use client::AlibabaClient;
