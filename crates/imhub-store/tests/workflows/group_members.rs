//! Fan-group join requests and members kept from pushes, checked on SQLite
//! and PostgreSQL: the list follows the pushes, a replay changes nothing, a
//! decided request is not reopened and a late push does not undo a newer one.

use std::sync::Arc;

use imhub_core::{
    AccountId, AccountRef, ChannelId, ContactInfo, InboundEvent, Platform, Timestamp, WorkspaceId,
    channel::JoinRequestStatus,
};
use imhub_store::{
    PushRecord, SqlStore, Store, StoreOptions,
    group_members::{self, StoredGroupMember, StoredJoinRequest},
    testing,
};

async fn sqlite_store() -> Arc<SqlStore> {
    Arc::new(
        SqlStore::open(StoreOptions::new(testing::sqlite_database()))
            .await
            .unwrap(),
    )
}

async fn postgres_store() -> Option<Arc<SqlStore>> {
    let url = testing::postgres_database()?;
    Some(Arc::new(
        SqlStore::open(StoreOptions::new(url)).await.unwrap(),
    ))
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::sqlite_store().await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(store) = super::postgres_store().await else { return };
                super::$name(store).await
            })*
        }
    };
}

both_backends!(
    join_requests_follow_their_pushes_and_are_never_reopened,
    membership_follows_joins_and_a_late_push_does_not_undo_a_newer_one,
    fan_group_events_of_an_unknown_account_are_kept_raw,
);

const T0: i64 = 1_700_000_000_000;
const GROUP: &str = "@9VwNxuKKBZ03MXG7M8ooWM79/2TqNP2C+O5FyqAqnJlYTZ==";

struct Fixture {
    ws: WorkspaceId,
    channel: ChannelId,
    account: AccountId,
}

async fn fixture(store: &SqlStore) -> Fixture {
    let ws = store.create_workspace("shop").await.unwrap();
    let channel = store
        .create_channel(ws.id, Platform::Douyin, "dy", &serde_json::json!({}))
        .await
        .unwrap();
    let account = store
        .create_account(ws.id, channel.id, "b_owner", "小店")
        .await
        .unwrap();
    Fixture {
        ws: ws.id,
        channel: channel.id,
        account: account.id,
    }
}

fn owner() -> AccountRef {
    AccountRef {
        external_id: "b_owner".into(),
        name: None,
    }
}

fn request(id: &str, who: &str, status: JoinRequestStatus, at: i64) -> InboundEvent {
    InboundEvent::GroupJoinRequest {
        account: owner(),
        group_id: GROUP.into(),
        request_id: id.into(),
        applicant: Some(ContactInfo {
            external_id: who.into(),
            nickname: Some(format!("nick-{who}")),
            avatar: None,
        }),
        status,
        at: Timestamp(T0 + at),
    }
}

fn member(who: &str, joined: bool, at: i64) -> InboundEvent {
    InboundEvent::GroupMembership {
        account: owner(),
        group_id: GROUP.into(),
        member: ContactInfo {
            external_id: who.into(),
            nickname: None,
            avatar: None,
        },
        joined,
        at: Timestamp(T0 + at),
    }
}

async fn record(store: &SqlStore, f: &Fixture, key: &str, event: InboundEvent) -> bool {
    let r = store
        .record_push(
            f.ws,
            PushRecord {
                channel_id: f.channel,
                event_key: Some(key.into()),
                body: key.as_bytes().to_vec(),
                received_at: Timestamp(T0 + 10_000_000),
                events: vec![event],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    assert!(r.unprocessable.is_empty(), "{:?}", r.unprocessable);
    r.duplicate
}

async fn requests(store: &SqlStore, f: &Fixture) -> Vec<StoredJoinRequest> {
    let (ws, account) = (f.ws, f.account);
    store
        .read_raw(move |db| group_members::list_join_requests(db, ws, account, Some(GROUP)))
        .await
        .unwrap()
}

async fn members(store: &SqlStore, f: &Fixture) -> Vec<StoredGroupMember> {
    let (ws, account) = (f.ws, f.account);
    store
        .read_raw(move |db| group_members::list_group_members(db, ws, account, GROUP))
        .await
        .unwrap()
}

async fn join_requests_follow_their_pushes_and_are_never_reopened(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    assert!(
        !record(
            &store,
            &f,
            "k1",
            request("@a1+/==", "c_li", JoinRequestStatus::Pending, 1)
        )
        .await
    );
    // The same push again (same key): a duplicate, nothing new.
    assert!(
        record(
            &store,
            &f,
            "k1",
            request("@a1+/==", "c_li", JoinRequestStatus::Pending, 1)
        )
        .await
    );
    // The same request in another push (another key): still one request.
    record(
        &store,
        &f,
        "k2",
        request("@a1+/==", "c_li", JoinRequestStatus::Pending, 1),
    )
    .await;
    record(
        &store,
        &f,
        "k3",
        request("@a2==", "c_zhao", JoinRequestStatus::Pending, 2),
    )
    .await;
    let list = requests(&store, &f).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].request_id, "@a1+/==");
    assert_eq!(list[0].status, JoinRequestStatus::Pending);
    assert_eq!(list[0].applicant_name.as_deref(), Some("nick-c_li"));
    assert!(list[0].applicant_id.is_some(), "the applicant is a contact");

    record(
        &store,
        &f,
        "k4",
        request("@a1+/==", "c_li", JoinRequestStatus::Approved, 5),
    )
    .await;
    record(
        &store,
        &f,
        "k5",
        request("@a2==", "c_zhao", JoinRequestStatus::Rejected, 6),
    )
    .await;
    // A late "pending" and a contradicting decision do not reopen or flip it.
    record(
        &store,
        &f,
        "k6",
        request("@a1+/==", "c_li", JoinRequestStatus::Pending, 9),
    )
    .await;
    record(
        &store,
        &f,
        "k7",
        request("@a1+/==", "c_li", JoinRequestStatus::Rejected, 9),
    )
    .await;
    let status: Vec<_> = requests(&store, &f)
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        status,
        [JoinRequestStatus::Approved, JoinRequestStatus::Rejected]
    );
}

async fn membership_follows_joins_and_a_late_push_does_not_undo_a_newer_one(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    record(&store, &f, "j1", member("c_li", true, 10)).await;
    record(&store, &f, "j2", member("c_li", true, 10)).await;
    record(&store, &f, "j3", member("c_zhao", true, 11)).await;
    let list = members(&store, &f).await;
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|m| m.joined && m.contact_id.is_some()));
    // c_li leaves later; an older "joined" arriving after does not undo it.
    record(&store, &f, "l1", member("c_li", false, 20)).await;
    record(&store, &f, "j4", member("c_li", true, 15)).await;
    let li = members(&store, &f)
        .await
        .into_iter()
        .find(|m| m.member_external_id == "c_li")
        .unwrap();
    assert!(!li.joined);
    assert_eq!(li.changed_at, Timestamp(T0 + 20));
    // Rejoining later counts.
    record(&store, &f, "j5", member("c_li", true, 30)).await;
    assert!(members(&store, &f).await.iter().all(|m| m.joined));
    // Another workspace sees nothing of it.
    let other = store.create_workspace("other").await.unwrap().id;
    let account = f.account;
    let seen = store
        .read_raw(move |db| group_members::list_group_members(db, other, account, GROUP))
        .await
        .unwrap();
    assert!(seen.is_empty());
}

async fn fan_group_events_of_an_unknown_account_are_kept_raw(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let mut event = member("c_li", true, 1);
    if let InboundEvent::GroupMembership { account, .. } = &mut event {
        account.external_id = "b_stranger".into();
    }
    let r = store
        .record_push(
            f.ws,
            PushRecord {
                channel_id: f.channel,
                event_key: Some("u1".into()),
                body: b"{}".to_vec(),
                received_at: Timestamp::now(),
                events: vec![event],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(r.unprocessable.len(), 1, "{:?}", r.unprocessable);
    assert!(members(&store, &f).await.is_empty());
}
