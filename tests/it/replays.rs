//! A signed body is stored once, whichever writer admits it and wherever its signature is
//! kept: on SQLite in the admitting thread's memory, then set apart by the thousand and
//! merged into `body_signatures` a slice per commit; on PostgreSQL in a unique index.

use crate::common;
use crate::on_both_stores;

use chrono::Utc;
use herald::store::{Admission, NewDelivery, Store, compress_payload};

/// As the admitting thread sets signatures apart to merge them: this many at a time.
const MERGE_AT: u32 = 4_096;

fn signed(id: &str, signature: u32) -> NewDelivery {
    let mut body_signature = [0xa5; 32];
    body_signature[..4].copy_from_slice(&signature.to_be_bytes());
    NewDelivery {
        delivery_id: herald::incident::DeliveryId::parse(id).expect("an id"),
        event: "issues".to_owned(),
        action: None,
        repository: None,
        installation_id: None,
        payload_lz4: compress_payload(b"{}"),
        body_signature: Some(body_signature),
        received_at: Utc::now(),
    }
}

async fn admitted(store: &Store, deliveries: Vec<NewDelivery>) -> Vec<Admission> {
    store.admit(deliveries).await.expect("admitted")
}

/// Admits `count` deliveries that `make` gives for their index, `per_batch` to a batch; each
/// must be accepted.
async fn accepted_in_batches(
    store: &Store,
    count: u32,
    per_batch: u32,
    make: impl Fn(u32) -> NewDelivery,
) {
    for first in (0..count).step_by(per_batch as usize) {
        let batch = (first..(first + per_batch).min(count)).map(&make).collect();
        let admissions = admitted(store, batch).await;
        assert!(
            admissions
                .iter()
                .all(|admission| *admission == Admission::Accepted),
            "{admissions:?}"
        );
    }
}

async fn admitted_in_work(store: &Store, delivery: NewDelivery) -> Admission {
    let mut work = store.begin().await.expect("work");
    let admission = work.admit(&delivery).await.expect("admitted");
    work.commit().await.expect("committed");
    admission
}

on_both_stores!(
    on_sqlite_a_body_is_stored_once_whichever_writer_admits_it,
    on_postgresql_a_body_is_stored_once_whichever_writer_admits_it,
    a_body_is_stored_once_whichever_writer_admits_it
);

async fn a_body_is_stored_once_whichever_writer_admits_it(url: &str) {
    let store = Store::open(url).await.expect("store");
    use Admission::{Accepted, Duplicate};
    assert_eq!(
        admitted(&store, vec![signed("a", 1), signed("a-again", 1)]).await,
        [Accepted, Duplicate],
        "repeated within a batch"
    );
    assert_eq!(
        admitted_in_work(&store, signed("a-in-work", 1)).await,
        Duplicate,
        "admitted by the ingest, then by a unit of work"
    );
    assert_eq!(admitted_in_work(&store, signed("b", 2)).await, Accepted);
    // The admitting thread reads what another connection stored before it admits.
    assert_eq!(
        admitted(&store, vec![signed("b-again", 2), signed("c", 3)]).await,
        [Duplicate, Accepted],
        "admitted by a unit of work, then by the ingest"
    );
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(stored, 3);
    // One id twice in a batch, first with a replayed body: the second, whose body is new,
    // is the one stored, and its answer says so.
    assert_eq!(
        admitted(&store, vec![signed("d", 3), signed("d", 4)]).await,
        [Duplicate, Accepted],
        "one id twice, the first a replay"
    );
    store.close().await;
}

/// Replays of bodies whose signatures were merged, and of those still in memory, before and
/// after a restart: each is refused, and a new body still accepted.
#[tokio::test]
async fn on_sqlite_a_body_is_refused_again_before_and_after_its_signature_is_merged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let store = Store::open(&url).await.expect("store");
    // One merge ended and the next under way: a commit merges one more signature than it
    // adds, so 4,100 set apart take 41 batches of 100.
    let total = 8_400;
    accepted_in_batches(&store, total, 100, |index| {
        signed(&format!("d-{index}"), index)
    })
    .await;
    let merged = async |store: &Store| -> (i64, i64) {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM body_signatures), \
             (SELECT through_rowid FROM body_signatures_merged)",
        )
        .fetch_one(store.pool())
        .await
        .expect("merged")
    };
    let (signatures, through) = merged(&store).await;
    assert!(
        (i64::from(MERGE_AT)..i64::from(total)).contains(&through),
        "merged through {through} of {total}"
    );
    assert!(
        signatures > through && signatures < i64::from(total),
        "{signatures} merged, through {through}: the next merge is under way"
    );

    // The signatures sort as their index: the first of those set apart are merged.
    let replayed = [
        ("replay-merged", 0),
        ("replay-merged-past-the-cursor", 4_150),
        ("replay-set-apart", 6_000),
        ("replay-latest", total - 1),
    ];
    let replays = || {
        replayed
            .iter()
            .map(|(id, signature)| signed(id, *signature))
            .chain([signed("new", total)])
            .collect::<Vec<_>>()
    };
    use Admission::{Accepted, Duplicate};
    assert_eq!(
        admitted(&store, replays()).await,
        [Duplicate, Duplicate, Duplicate, Duplicate, Accepted]
    );
    store.close().await;

    let reopened = Store::open(&url).await.expect("reopened");
    assert_eq!(
        admitted(&reopened, replays()).await,
        [Duplicate; 5],
        "after a restart, the unmerged signatures are read again from the deliveries"
    );
    for (id, signature) in replayed {
        assert_eq!(
            admitted_in_work(&reopened, signed(&format!("{id}-in-work"), signature)).await,
            Duplicate,
            "{id}"
        );
    }
    assert_eq!(
        admitted(&reopened, vec![signed("newer", total + 1)]).await,
        [Accepted]
    );
    reopened.close().await;
}

/// A store copied to PostgreSQL and back keeps its deliveries' body signatures: a replay of
/// a copied delivery's body is refused on each.
#[tokio::test]
async fn a_copied_store_refuses_a_replay_of_a_copied_body() {
    common::on_postgresql(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = Store::open(&common::sqlite_url(dir.path()))
            .await
            .expect("store");
        admitted(&source, vec![signed("original", 7)]).await;

        let (postgres, sqlite, _back) = common::copied_there_and_back(&source).await;
        assert_eq!(
            admitted(&postgres, vec![signed("replayed-on-postgresql", 7)]).await,
            [Admission::Duplicate]
        );

        let merged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM body_signatures")
            .fetch_one(sqlite.pool())
            .await
            .expect("count");
        assert_eq!(merged, 1);
        assert_eq!(
            admitted(&sqlite, vec![signed("replayed-on-sqlite", 7)]).await,
            [Admission::Duplicate]
        );
        for store in [source, postgres, sqlite] {
            store.close().await;
        }
    })
    .await;
}

/// Deliveries stored before migration 22 (which keeps SQLite's body signatures apart from
/// them) still have their replays refused after the upgrade.
#[tokio::test]
async fn on_sqlite_bodies_stored_before_the_upgrade_are_refused_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let pool = common::any_pool(&format!("{url}?mode=rwc")).await;
    let migrations = format!("{}/migrations/sqlite", env!("CARGO_MANIFEST_DIR"));
    sqlx::migrate::Migrator::new(std::path::Path::new(&migrations))
        .await
        .expect("the migrations")
        .run_to(21, &pool)
        .await
        .expect("the schema before migration 22");
    for (id, signature) in [("old-1", Some(1)), ("herald-own", None), ("old-2", Some(2))] {
        let signature = signature.map(|index| signed("unused", index).body_signature);
        sqlx::query(
            "INSERT INTO deliveries (delivery_id, event, payload_lz4, body_signature, received_at) \
             VALUES ($1, 'issues', x'00', $2, 0)",
        )
        .bind(id)
        .bind(signature.flatten().map(|signature| signature.to_vec()))
        .execute(&pool)
        .await
        .expect("a delivery as herald stored it");
    }
    pool.close().await;

    let store = Store::open(&url).await.expect("the store, migrated");
    let (merged, through): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM body_signatures), \
         (SELECT through_rowid FROM body_signatures_merged)",
    )
    .fetch_one(store.pool())
    .await
    .expect("merged");
    assert_eq!((merged, through), (2, 3));
    use Admission::{Accepted, Duplicate};
    assert_eq!(
        admitted(
            &store,
            vec![signed("new-1", 1), signed("new-2", 2), signed("new-3", 3)]
        )
        .await,
        [Duplicate, Duplicate, Accepted]
    );
    store.close().await;
}

/// Deliveries without a signature (herald's own) move the merged rowid on too, so that a
/// start reads few deliveries again.
#[tokio::test]
async fn on_sqlite_deliveries_without_a_signature_are_not_read_again_at_each_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&common::sqlite_url(dir.path()))
        .await
        .expect("store");
    let total = 16_500;
    accepted_in_batches(&store, total, 500, |index| NewDelivery {
        body_signature: None,
        ..signed(&format!("own-{index}"), index)
    })
    .await;
    // The merge runs after the batch that needed it is answered; the next waits for it.
    admitted(&store, vec![signed("after", total)]).await;
    let through: i64 = sqlx::query_scalar("SELECT through_rowid FROM body_signatures_merged")
        .fetch_one(store.pool())
        .await
        .expect("merged");
    assert!(
        (16_384..=i64::from(total)).contains(&through),
        "merged through {through}"
    );
    store.close().await;
}

/// A batch that does not commit leaves no signature behind: its bodies are new when they
/// come again, while those committed before it stay stored.
#[tokio::test]
async fn on_sqlite_a_batch_undone_leaves_its_bodies_unstored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let store = Store::open(&url).await.expect("store");
    let writer = common::any_pool(&url).await;
    admitted(&store, vec![signed("before", 1)]).await;
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT ON deliveries WHEN NEW.delivery_id = 'poison' \
         BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
    )
    .execute(&writer)
    .await
    .expect("a trigger that fails the batch");
    let undone = store
        .admit(vec![signed("undone", 2), signed("poison", 3)])
        .await;
    assert!(undone.is_err(), "{undone:?}");
    use Admission::{Accepted, Duplicate};
    assert_eq!(
        admitted(
            &store,
            vec![
                signed("again", 2),
                signed("poison-again", 3),
                signed("replay", 1)
            ]
        )
        .await,
        [Accepted, Accepted, Duplicate]
    );
    store.close().await;
}

/// A slice of the merge that fails fails the commit it is part of: its deliveries are
/// refused (503 for GitHub, which sends them again) and nothing is lost or half-merged.
#[tokio::test]
async fn on_sqlite_a_merge_that_fails_fails_its_batch_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let store = Store::open(&url).await.expect("store");
    let writer = common::any_pool(&url).await;
    sqlx::query(
        "CREATE TRIGGER no_merge BEFORE INSERT ON body_signatures \
         BEGIN SELECT RAISE(ABORT, 'no room'); END",
    )
    .execute(&writer)
    .await
    .expect("a trigger that fails every merge");
    // Enough to set signatures apart; the next commit merges a slice of them.
    accepted_in_batches(&store, MERGE_AT, 1_024, |index| {
        signed(&format!("d-{index}"), index)
    })
    .await;
    let batch = || vec![signed("next", MERGE_AT), signed("replay", 0)];
    let refused = store.admit(batch()).await;
    let error = refused.expect_err("refused while its slice cannot be merged");
    assert!(error.to_string().contains("no room"), "{error}");

    sqlx::query("DROP TRIGGER no_merge")
        .execute(&writer)
        .await
        .expect("merges succeed again");
    assert_eq!(
        admitted(&store, batch()).await,
        [Admission::Accepted, Admission::Duplicate]
    );
    let merged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM body_signatures")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(merged, 2, "one more than the commit added");
    store.close().await;
}
