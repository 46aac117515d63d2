//! The proptest configuration every `tests/prop_*.rs` file uses (`#[path]`-included).

use proptest::prelude::ProptestConfig;
use proptest::test_runner::RngSeed;

/// Modest case counts keep each file to a few seconds. The seed is fixed so that every run
/// checks the same cases (no flaky failures); set PROPTEST_RNG_SEED to explore others.
pub fn config(cases: u32) -> ProptestConfig {
    let base = ProptestConfig::default();
    let rng_seed = match base.rng_seed {
        RngSeed::Random => RngSeed::Fixed(0x5709_6a7e),
        seed => seed,
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed,
        ..base
    }
}
