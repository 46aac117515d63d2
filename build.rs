//! Compiles `proto/` with a vendored protoc (a fresh machine has none) and writes the file
//! descriptor set that gRPC reflection serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let include = protoc_bin_vendored::include_path()?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // SAFETY of set_var: build scripts are single-threaded.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("PROTOC", protoc);
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("stopgate_descriptor.bin"))
        .extern_path(".google.rpc", "::tonic_types::pb")
        .compile_protos(
            &[
                std::path::PathBuf::from("proto/stopgate/v1/instance_service.proto"),
                std::path::PathBuf::from("proto/stopgate/v1/command_service.proto"),
                std::path::PathBuf::from("proto/google/rpc/error_details.proto"),
            ],
            &[std::path::PathBuf::from("proto"), include],
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
