//! Request conversion and validation: protobuf bytes as a client could send them, or requests
//! built field by field from the fuzzer's bytes.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use stopgate_fuzz::{input, request};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => request::check_bytes(rest),
        1 => {
            if let Ok(r) = input::stop_request(&mut Unstructured::new(rest)) {
                stopgate_fuzz::show(&r);
                request::check_stop(r);
            }
        }
        _ => {
            if let Ok(r) = input::command_request(&mut Unstructured::new(rest)) {
                stopgate_fuzz::show(&r);
                request::check_command(r);
            }
        }
    }
});
