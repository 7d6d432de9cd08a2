//! Send rate limits counted in the database for every node, identically on
//! SQLite and PostgreSQL: grants stop at the limit however many stores
//! (nodes) claim at once, a later second starts the count again, an older
//! second gets nothing, and one claim serves several keys.

use std::sync::Arc;

use imhub_store::{RateClaim, SqlStore, Store, StoreOptions, testing};
use tokio::task::JoinSet;

/// Three stores on one database: three nodes on PostgreSQL; on SQLite the
/// same store three times (one node, one writer).
async fn sqlite_stores() -> Vec<Arc<SqlStore>> {
    let store = Arc::new(
        SqlStore::open(StoreOptions::new(testing::sqlite_database()))
            .await
            .unwrap(),
    );
    vec![store.clone(), store.clone(), store]
}

async fn postgres_stores() -> Option<Vec<Arc<SqlStore>>> {
    let url = testing::postgres_database()?;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(Arc::new(
            SqlStore::open(StoreOptions::new(url.clone()))
                .await
                .unwrap(),
        ));
    }
    Some(stores)
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::sqlite_stores().await, false).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(stores) = super::postgres_stores().await else { return };
                super::$name(stores, true).await
            })*
        }
    };
}

conformance!(
    grants_of_one_second_never_pass_the_limit_on_all_nodes_together,
    a_later_second_starts_again_and_an_older_one_gets_nothing,
    one_claim_serves_several_keys_and_names_twice_share,
    bad_claims_are_refused_or_get_nothing,
);

fn claim(key: &str, limit: u32, want: u32) -> RateClaim {
    RateClaim {
        key: key.into(),
        limit,
        want,
    }
}

async fn grants_of_one_second_never_pass_the_limit_on_all_nodes_together(
    stores: Vec<Arc<SqlStore>>,
    shared: bool,
) {
    assert_eq!(stores[0].shares_rate_limits(), shared);
    const LIMIT: u32 = 200;
    // 3 nodes x 8 claimers each asking for 7 at a time, 30 times over:
    // far more than the limit, raced against each other.
    let mut tasks = JoinSet::new();
    for store in &stores {
        for _ in 0..8 {
            let store = Arc::clone(store);
            tasks.spawn(async move {
                let mut got = 0u32;
                for _ in 0..30 {
                    got += store
                        .claim_rate_slots(1_000, vec![claim("channel:1", LIMIT, 7)])
                        .await
                        .unwrap()[0];
                }
                got
            });
        }
    }
    let mut total = 0;
    while let Some(got) = tasks.join_next().await {
        let got = got.unwrap();
        assert!(got <= LIMIT);
        total += got;
    }
    assert_eq!(total, LIMIT, "exactly the limit granted, never more");
}

async fn a_later_second_starts_again_and_an_older_one_gets_nothing(
    stores: Vec<Arc<SqlStore>>,
    _shared: bool,
) {
    let (a, b) = (&stores[0], &stores[1]);
    let key = "account:9";
    assert_eq!(
        a.claim_rate_slots(50, vec![claim(key, 10, 8)])
            .await
            .unwrap(),
        [8]
    );
    assert_eq!(
        b.claim_rate_slots(50, vec![claim(key, 10, 8)])
            .await
            .unwrap(),
        [2]
    );
    assert_eq!(
        a.claim_rate_slots(50, vec![claim(key, 10, 1)])
            .await
            .unwrap(),
        [0]
    );
    // The next second: the whole limit again, to whoever asks first.
    assert_eq!(
        b.claim_rate_slots(51, vec![claim(key, 10, 25)])
            .await
            .unwrap(),
        [10]
    );
    // A node whose clock lags asks for a second already over: nothing.
    assert_eq!(
        a.claim_rate_slots(50, vec![claim(key, 10, 1)])
            .await
            .unwrap(),
        [0]
    );
    assert_eq!(
        a.claim_rate_slots(51, vec![claim(key, 10, 1)])
            .await
            .unwrap(),
        [0]
    );
    // A node configured with a lower limit gets nothing beyond it; one
    // with a higher limit gets its own limit's rest.
    assert_eq!(
        a.claim_rate_slots(52, vec![claim(key, 10, 10)])
            .await
            .unwrap(),
        [10]
    );
    assert_eq!(
        b.claim_rate_slots(52, vec![claim(key, 5, 3)])
            .await
            .unwrap(),
        [0]
    );
    assert_eq!(
        b.claim_rate_slots(52, vec![claim(key, 12, 3)])
            .await
            .unwrap(),
        [2]
    );
}

async fn one_claim_serves_several_keys_and_names_twice_share(
    stores: Vec<Arc<SqlStore>>,
    _shared: bool,
) {
    let a = &stores[0];
    let got = a
        .claim_rate_slots(
            7,
            vec![
                claim("channel:2", 5, 3),
                claim("account:2", 2, 3),
                claim("channel:2", 5, 3),
                claim("channel:3", 1, 0),
            ],
        )
        .await
        .unwrap();
    assert_eq!(got, [3, 2, 2, 0]);
    assert_eq!(
        stores[2]
            .claim_rate_slots(7, vec![claim("channel:3", 1, 4), claim("channel:2", 5, 4)])
            .await
            .unwrap(),
        [1, 0]
    );
}

async fn bad_claims_are_refused_or_get_nothing(stores: Vec<Arc<SqlStore>>, _shared: bool) {
    let a = &stores[0];
    assert_eq!(
        a.claim_rate_slots(1, Vec::new()).await.unwrap(),
        Vec::<u32>::new()
    );
    // A limit of 0 is taken as 1: a configured key always moves.
    assert_eq!(
        a.claim_rate_slots(1, vec![claim("channel:4", 0, 3)])
            .await
            .unwrap(),
        [1]
    );
    let too_many: Vec<RateClaim> = (0..=imhub_store::rate_slots::MAX_KEYS_PER_CLAIM)
        .map(|i| claim(&format!("channel:{i}"), 10, 1))
        .collect();
    assert!(a.claim_rate_slots(1, too_many).await.is_err());
    // Keys are text of any shape; SQL in them is just text.
    assert_eq!(
        a.claim_rate_slots(1, vec![claim("x'); DROP TABLE rate_slots; --", 3, 2)])
            .await
            .unwrap(),
        [2]
    );
    assert_eq!(
        a.claim_rate_slots(1, vec![claim("channel:4", 1, 1)])
            .await
            .unwrap(),
        [0]
    );
}
