//! What the gateway and the simulator share about the two vendors: which vendor it is
//! ([`Provider`]) and how each one signs its requests ([`alibaba::sign`], [`tencent::sign`]).
#![forbid(unsafe_code)]

/// Alibaba Cloud: its request signatures.
pub mod alibaba {
    pub mod sign;
}

/// Tencent Cloud: its request signatures.
pub mod tencent {
    pub mod sign;
}

use std::fmt;
use std::str::FromStr;

/// A cloud vendor stopgate can talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Alibaba Cloud (ECS 2014-05-26, Cloud Assistant).
    Alibaba,
    /// Tencent Cloud (CVM 2017-03-12, TAT 2020-10-28).
    Tencent,
}

impl Provider {
    /// Both providers, in a stable order.
    pub const ALL: [Provider; 2] = [Provider::Alibaba, Provider::Tencent];

    /// The lowercase name used in configuration, logs and metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Alibaba => "alibaba",
            Provider::Tencent => "tencent",
        }
    }
}

impl serde::Serialize for Provider {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "alibaba" | "aliyun" | "alibabacloud" => Ok(Provider::Alibaba),
            "tencent" | "tencentcloud" | "qcloud" => Ok(Provider::Tencent),
            other => Err(format!(
                "unknown provider {other:?}: use \"alibaba\" or \"tencent\""
            )),
        }
    }
}
