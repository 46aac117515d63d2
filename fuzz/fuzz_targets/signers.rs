//! The signers and `Authorization` parsers both sides share.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use stopgate_fuzz::{input, signers};

fuzz_target!(|data: &[u8]| {
    if let Ok(sign) = input::sign_input(&mut Unstructured::new(data)) {
        stopgate_fuzz::show(&sign);
        signers::check(&sign);
    }
});
