//! The simulator's Alibaba endpoint: calls signed with the gateway's signers, then tampered with.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use stopgate_fuzz::{input, sim};

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = input::ali_call(&mut Unstructured::new(data)) {
        stopgate_fuzz::show(&call);
        sim::check_alibaba(&call);
    }
});
