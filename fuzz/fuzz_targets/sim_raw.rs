//! The simulator's front door: any method, path, query, headers and body.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use stopgate_fuzz::{input, sim};

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = input::raw_request(&mut Unstructured::new(data)) {
        stopgate_fuzz::show(&raw);
        sim::check_raw(&raw);
    }
});
