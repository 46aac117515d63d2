//! The vendor response parsers: any status and body, read by the real adapters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stopgate_fuzz::{input, responses};

fuzz_target!(|data: &[u8]| {
    if let Some((provider, op, answer)) = input::vendor_answer(data) {
        stopgate_fuzz::show(&(provider, op, &answer));
        responses::check(provider, op, answer);
    }
});
