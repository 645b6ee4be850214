//! The property tests' configuration, shared by every parser's tests: a fixed seed, so
//! `cargo test` runs the same cases each time (and a failure is found again), and as many
//! cases as `PROPTEST_CASES` says (256 unless set): a long run sets it higher (docs/development.md,
//! "Testing").

use proptest::test_runner::{Config, RngSeed};

pub fn config() -> Config {
    Config {
        rng_seed: RngSeed::Fixed(25),
        // Shrinking a failure of a long run may take a while; it is worth it.
        ..Config::default()
    }
}

/// Any JSON value up to four levels deep: objects keyed by `keys`, strings anything or one
/// of `strings` (the values that mean something to the parser under test).
pub fn json(
    keys: &'static [&'static str],
    strings: &'static [&'static str],
) -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            any::<String>(),
            prop::sample::select(strings).prop_map(str::to_owned)
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(prop::sample::select(keys), inner, 0..6).prop_map(|map| {
                Value::Object(
                    map.into_iter()
                        .map(|(key, value)| (key.to_owned(), value))
                        .collect(),
                )
            }),
        ]
    })
}

/// Any text at all, or text made of up to `most` of `pieces` (the markup that means
/// something to the parser under test).
pub fn text_of(
    pieces: &'static [&'static str],
    most: usize,
) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop::sample::select(pieces), 0..most)
            .prop_map(|pieces| pieces.concat()),
    ]
}
