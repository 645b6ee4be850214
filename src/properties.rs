//! The property tests' configuration, shared by every parser's tests: a fixed seed, so
//! `cargo test` runs the same cases each time (and a failure is found again), and as many
//! cases as `PROPTEST_CASES` says (256 unless set): a long run sets it higher (README,
//! "Testing").

use proptest::test_runner::{Config, RngSeed};

pub fn config() -> Config {
    Config {
        rng_seed: RngSeed::Fixed(25),
        // Shrinking a failure of a long run may take a while; it is worth it.
        ..Config::default()
    }
}
