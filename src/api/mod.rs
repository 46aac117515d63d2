//! The gRPC api layer: tonic services, proto ↔ model conversion, and the one error → status
//! mapping. It knows tonic and protobuf, nothing about vendors.

pub mod admission;
pub mod admission_layer;
pub mod auth;
pub mod command_service;
pub mod convert;
pub mod deadline;
pub mod instance_service;
pub mod pb;
pub mod status;
pub mod stream;
