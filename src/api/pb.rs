//! The generated protobuf and tonic code for `stopgate.v1`.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("stopgate.v1");

/// Serialized descriptors of every stopgate proto and its imports, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("stopgate_descriptor");
