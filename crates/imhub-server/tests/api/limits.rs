//! Operator limits and retention seen through the API: the media quota per
//! workspace, and the retention job that drops old push bodies but keeps
//! the conversations.

use super::*;

async fn server_with(
    config: Config,
    store: Arc<SqlStore>,
) -> (String, String, imhub_core::WorkspaceId) {
    let running = imhub_server::start(config, store.clone(), std::future::pending())
        .await
        .unwrap();
    let ws = store.create_workspace("shop").await.unwrap().id;
    let token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
        .await
        .unwrap();
    (format!("http://{}", running.addr), token, ws)
}

async fn upload(base: &str, token: &str, bytes: usize) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/media"))
        .bearer_auth(token)
        .header("content-type", "image/png")
        .body(vec![0u8; bytes])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_past_the_workspace_media_quota_is_413_quota_exceeded() {
    let store = Arc::new(
        SqlStore::open(StoreOptions::new(testing::sqlite_database()))
            .await
            .unwrap(),
    );
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    config.limits.media_bytes_per_workspace = 10_000;
    let (base, token, _) = server_with(config, store.clone()).await;
    assert_eq!(upload(&base, &token, 6_000).await.0, 201);
    let (status, problem) = upload(&base, &token, 6_000).await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["code"], "quota_exceeded");
    // What still fits is accepted.
    assert_eq!(upload(&base, &token, 4_000).await.0, 201);
    assert_eq!(upload(&base, &token, 1).await.0, 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_job_drops_old_push_bodies_and_keeps_the_conversation() {
    let url = testing::sqlite_database();
    let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let running = imhub_server::start(config, store.clone(), std::future::pending())
        .await
        .unwrap();
    let ws = store.create_workspace("shop").await.unwrap().id;
    let channel = store
        .create_channel(
            ws,
            imhub_core::Platform::Custom,
            "site",
            &json!({"secret": SECRET}),
        )
        .await
        .unwrap();
    store
        .create_account(ws, channel.id, "shop-1", "Shop")
        .await
        .unwrap();
    let body = json!({"event_id": "old-1", "account": {"id": "shop-1"},
        "contact": {"id": "u-1", "nickname": "老客户"},
        "message": {"id": "m-1", "content": {"type": "text", "text": "上个月的消息"}}})
    .to_string();
    let res = reqwest::Client::new()
        .post(format!(
            "http://{}/webhooks/custom/{}",
            running.addr, channel.id
        ))
        .header("x-imhub-signature", sign(SECRET, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    // Age the push by 31 days, then run a pass as the job does.
    store
        .write_raw(|db| {
            db.execute(
                "UPDATE raw_events SET received_at = received_at - $1",
                &[(31_i64 * 86_400_000).into()],
            )
        })
        .await
        .unwrap();
    let pruned = imhub_server::retention::pass(&running.state).await.unwrap();
    assert_eq!(pruned, 1);
    let (body, request): (Vec<u8>, Option<String>) = store
        .read_raw(|db| {
            let row = db.query_one("SELECT body, request FROM raw_events", &[])?;
            Ok((row.blob(0)?, row.opt_text(1)?))
        })
        .await
        .unwrap();
    assert!(body.is_empty() && request.is_none());
    let list = store
        .list_conversations(
            ws,
            imhub_store::ConversationFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "the conversation and its message stay");
    // A second pass finds nothing more to do.
    assert_eq!(
        imhub_server::retention::pass(&running.state).await.unwrap(),
        0
    );
}
