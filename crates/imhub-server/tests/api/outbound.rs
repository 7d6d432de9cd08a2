//! Requests to URLs a tenant chose go through the guarded client: refused
//! targets when saved and when sent, no redirects followed, a receiver's
//! absurd `Retry-After` capped, outgoing webhooks bounded and independent.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::response::{IntoResponse, Response};
use imhub_core::Platform;

use super::*;

/// Every spelling of a target no tenant may name.
const REFUSED: &[&str] = &[
    "http://127.0.0.1/hook",
    "http://localhost/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://0177.0.0.1/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
];

/// A server with the operator's defaults: no allow-list at all.
async fn strict_server() -> (String, String, Arc<SqlStore>) {
    let store = Arc::new(
        SqlStore::open(StoreOptions::new(testing::sqlite_database()))
            .await
            .unwrap(),
    );
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let running = imhub_server::start(config, store.clone(), std::future::pending())
        .await
        .unwrap();
    let ws = store.create_workspace("strict").await.unwrap().id;
    let token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
        .await
        .unwrap();
    (format!("http://{}", running.addr), token, store)
}

async fn post_as(base: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_targets_are_422_target_not_allowed_when_saved_and_nothing_is_stored() {
    let (base, token, _) = strict_server().await;
    for url in REFUSED {
        let (status, p) = post_as(
            &base,
            &token,
            "/api/v1/channels",
            json!({"platform": "custom", "name": "c",
                   "config": {"secret": SECRET, "outbound_url": url}}),
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (422, Some("target_not_allowed")),
            "{url}: {p}"
        );
        let (status, p) = post_as(&base, &token, "/api/v1/webhooks", json!({"url": url})).await;
        assert_eq!(
            (status, p["code"].as_str()),
            (422, Some("target_not_allowed")),
            "{url}: {p}"
        );
    }
    let (status, p) = post_as(
        &base,
        &token,
        "/api/v1/webhooks",
        json!({"url": "ftp://example.com/hook"}),
    )
    .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("invalid_request")),
        "{p}"
    );
    // DNS can be down when a URL is saved: a name that does not resolve now
    // is accepted and judged at every delivery.
    let (status, p) = post_as(
        &base,
        &token,
        "/api/v1/webhooks",
        json!({"url": "https://hooks.example.invalid/imhub"}),
    )
    .await;
    assert_eq!(status, 201, "{p}");
    let client = reqwest::Client::new();
    for (path, want) in [("/api/v1/channels", 0), ("/api/v1/webhooks", 1)] {
        let list: Value = client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            want,
            "{path}: {list}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_channel_cannot_name_its_api_base_url() {
    let h = Harness::sqlite().await;
    for (platform, config) in [
        (
            "douyin",
            json!({"client_key": "k", "client_secret": "s", "base_url": "http://169.254.169.254"}),
        ),
        (
            "tencent",
            json!({"sdkappid": 1400000001u64, "key": "k", "identifier": "admin",
                   "callback_token": "t", "base_url": "http://10.0.0.1"}),
        ),
        (
            "meituan",
            json!({"app_id": "1", "app_secret": "s", "base_url": "http://127.0.0.1:1/"}),
        ),
    ] {
        let (status, p) = h
            .post(
                "/api/v1/channels",
                json!({"platform": platform, "name": "p", "config": config}),
            )
            .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (422, Some("invalid_channel_config")),
            "{p}"
        );
        assert!(p["detail"].as_str().unwrap().contains("operator"), "{p}");
    }
    let (status, p) = h
        .post(
            "/api/v1/channels",
            json!({"platform": "douyin", "name": "p",
                   "config": {"client_key": "k", "client_secret": "s", "request_timeout_secs": 86400}}),
        )
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("invalid_channel_config")),
        "{p}"
    );
}

/// A second custom channel of the harness's workspace, with an account
/// `shop-2`, whose replies go to `outbound_url`; returns its id. With
/// `bypass_guard` it is written straight into the store, as a channel saved
/// before the guard existed would be.
async fn second_channel(h: &Harness, outbound_url: &str, bypass_guard: bool) -> i64 {
    let config = json!({"secret": SECRET, "outbound_url": outbound_url});
    let id = if bypass_guard {
        h.store
            .create_channel(h.ws, Platform::Custom, "legacy", &config)
            .await
            .unwrap()
            .id
            .0
    } else {
        let (status, c) = h
            .post(
                "/api/v1/channels",
                json!({"platform": "custom", "name": "second", "config": config}),
            )
            .await;
        assert_eq!(status, 201, "{c}");
        c["id"].as_i64().unwrap()
    };
    let (status, a) = h
        .post(
            "/api/v1/accounts",
            json!({"channel_id": id, "external_id": "shop-2", "name": "Shop 2"}),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    id
}

/// A customer writes to `shop-2` of `channel`; returns the conversation id.
async fn conversation_on(h: &Harness, channel: i64, event: &str) -> i64 {
    let body = json!({
        "event_id": event,
        "account": {"id": "shop-2"},
        "contact": {"id": format!("c-{event}")},
        "message": {"id": event, "content": {"type": "text", "text": "hi"}},
    })
    .to_string();
    let res = h
        .http
        .post(format!("{}/webhooks/custom/{channel}", h.base))
        .header("x-imhub-signature", sign(SECRET, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let conversations = h.conversations().await;
    let found = conversations
        .iter()
        .find(|c| c["peer_external_id"] == format!("c-{event}"))
        .unwrap();
    found["id"].as_i64().unwrap()
}

async fn reply(h: &Harness, conversation: i64, text: &str) -> i64 {
    let (status, m) = h
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({"content": {"type": "text", "text": text}}),
        )
        .await;
    assert_eq!(status, 202, "{m}");
    m["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_whose_target_is_refused_at_send_fails_with_target_not_allowed_and_nothing_else() {
    let h = Harness::sqlite().await;
    let legacy = second_channel(&h, "http://169.254.169.254/latest?token=SECRET", true).await;
    let conversation = conversation_on(&h, legacy, "legacy-1").await;
    let first = reply(&h, conversation, "one").await;
    let failed = h.message_status_becomes(first, "failed").await;
    assert_eq!(failed["error_code"], "target_not_allowed", "{failed}");
    assert!(!failed.to_string().contains("SECRET"), "{failed}");
    // The conversation is not blocked, and the other channel still sends.
    let second = reply(&h, conversation, "two").await;
    h.message_status_becomes(second, "failed").await;
    h.push("e1", "u1", "m1", "hello").await;
    let main = h
        .conversations()
        .await
        .into_iter()
        .find(|c| c["id"] != conversation)
        .unwrap();
    let ok = reply(&h, main["id"].as_i64().unwrap(), "fine").await;
    h.message_status_becomes(ok, "sent").await;
}

/// Every refused spelling, saved before the guard existed (straight into
/// the store), is refused again when a reply is sent: the reply fails at
/// once with `target_not_allowed` (not `retries_exhausted`: no retry), the
/// URL is not named (the address may be), and nothing else is lost: the customer's message stays,
/// and the allowed channel still sends. Both backends.
async fn every_refused_spelling_is_refused_at_send(h: Harness) {
    for (n, url) in REFUSED.iter().enumerate() {
        let legacy = second_channel(&h, url, true).await;
        let conversation = conversation_on(&h, legacy, &format!("refused-{n}")).await;
        let id = reply(&h, conversation, &format!("to {url}")).await;
        let failed = h.message_status_becomes(id, "failed").await;
        assert_eq!(
            failed["error_code"], "target_not_allowed",
            "{url}: {failed}"
        );
        // The reason names the address (ours to say), never the URL.
        let text = failed["error_text"].as_str().unwrap_or_default();
        assert!(
            !text.contains(url) && !text.contains("/hook") && !text.contains("meta-data"),
            "{url}: the URL is not named: {failed}"
        );
        let (status, page) = h
            .get(&format!("/api/v1/conversations/{conversation}/messages"))
            .await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(
            items
                .iter()
                .any(|m| m["direction"] == "in" && m["content"]["text"] == "hi"),
            "{url}: the customer's message is kept: {page}"
        );
    }
    // The allowed channel still sends, and its receiver got only that.
    h.push("ok-1", "u-ok", "m-ok", "hello").await;
    let main = h
        .conversations()
        .await
        .into_iter()
        .find(|c| c["peer_external_id"] == "u-ok")
        .unwrap();
    let ok = reply(&h, main["id"].as_i64().unwrap(), "fine").await;
    h.message_status_becomes(ok, "sent").await;
    let bodies = h.receiver.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(
        h.state.metrics.delivery_retries.load(Ordering::SeqCst),
        0,
        "a refused target is never retried"
    );
}

/// The operator allows only 127.0.0.2, where the receiver listens: every
/// spelling of 127.0.0.1 (and the other refused ranges) stays refused.
async fn strict_harness(url: String) -> Harness {
    Harness::start_configured(url, "127.0.0.2", |config| {
        config.outbound.allow_cidrs = vec!["127.0.0.2/32".into()];
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refused_spelling_is_refused_at_send_on_sqlite() {
    every_refused_spelling_is_refused_at_send(strict_harness(testing::sqlite_database()).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refused_spelling_is_refused_at_send_on_postgres() {
    let Some(url) = testing::postgres_database() else {
        return;
    };
    every_refused_spelling_is_refused_at_send(strict_harness(url).await).await;
}

/// A scripted answer: its status and headers.
type Answer = (u16, Vec<(&'static str, String)>);

/// A receiver answering each request with the next scripted response
/// (then 200), counting the requests.
#[derive(Clone, Default)]
struct Scripted {
    answers: Arc<Mutex<Vec<Answer>>>,
    hits: Arc<AtomicUsize>,
}

async fn scripted(State(s): State<Scripted>) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let next = {
        let mut answers = s.answers.lock().unwrap();
        (!answers.is_empty()).then(|| answers.remove(0))
    };
    let (status, headers) = next.unwrap_or((200, Vec::new()));
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        "receiver's own words",
    )
        .into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

async fn start_scripted() -> (String, Scripted) {
    let s = Scripted::default();
    let app = Router::new()
        .route("/hook", post(scripted))
        .with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_a_refused_address_is_a_failed_attempt_and_is_not_followed() {
    let h = Harness::sqlite().await;
    let (url, receiver) = start_scripted().await;
    receiver.answers.lock().unwrap().push((
        302,
        vec![(
            "location",
            "http://169.254.169.254/latest/meta-data/".into(),
        )],
    ));
    let channel = second_channel(&h, &url, false).await;
    let conversation = conversation_on(&h, channel, "redirect-1").await;
    let id = reply(&h, conversation, "to be redirected").await;
    let failed = h.message_status_becomes(id, "failed").await;
    assert_eq!(failed["error_code"], "http_302", "{failed}");
    let text = failed["error_text"].as_str().unwrap_or_default();
    assert!(!text.contains("169.254"), "{failed}");
    assert!(
        !text.contains("receiver's own words"),
        "the remote body is never copied: {failed}"
    );
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receivers_absurd_retry_after_is_capped_and_the_delivery_goes_on() {
    let h = Harness::sqlite().await;
    let (url, receiver) = start_scripted().await;
    receiver
        .answers
        .lock()
        .unwrap()
        .push((429, vec![("retry-after", "18446744073709551615".into())]));
    let channel = second_channel(&h, &url, false).await;
    let conversation = conversation_on(&h, channel, "slow-1").await;
    let first = reply(&h, conversation, "after the wait").await;
    // The receiver asked for 2^64 seconds: the retry is put an hour away
    // (the longest Retry-After imhub honours), computed without overflow.
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.hits.load(Ordering::SeqCst) < 1 {
        assert!(Instant::now() < deadline, "the receiver was never called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let scheduled = loop {
        let row = h
            .store
            .read_raw(move |db| {
                db.query_opt(
                    "SELECT due_at, attempts FROM outbox WHERE message_id = $1",
                    &[first.into()],
                )?
                .map(|r| Ok::<_, imhub_store::StoreError>((r.int(0)?, r.int(1)?)))
                .transpose()
            })
            .await
            .unwrap();
        match row {
            Some((due, 1)) => break due,
            _ => {
                assert!(Instant::now() < deadline, "no retry was scheduled");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let wait_ms = scheduled - imhub_core::Timestamp::now().millis();
    assert!(
        (3_500_000..=3_600_000).contains(&wait_ms),
        "retry in {wait_ms} ms"
    );
    // The delivery engine is alive and goes on sending others' replies.
    let (url2, _fast) = start_scripted().await;
    let channel2 = second_channel(&h, &url2, false).await;
    let other = conversation_on(&h, channel2, "fast-1").await;
    let meanwhile = reply(&h, other, "meanwhile").await;
    h.message_status_becomes(meanwhile, "sent").await;
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 1);
}

async fn webhooks_are_bounded_per_workspace(h: Harness) {
    let mut ids = Vec::new();
    for n in 0..20 {
        let (status, w) = h
            .post(
                "/api/v1/webhooks",
                json!({"url": format!("https://hooks.example.invalid/{n}")}),
            )
            .await;
        assert_eq!(status, 201, "{w}");
        ids.push(w["id"].as_i64().unwrap());
    }
    let (status, p) = h
        .post(
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.invalid/21"}),
        )
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("too_many_webhooks")),
        "{p}"
    );
    let res = h
        .http
        .delete(format!("{}/api/v1/webhooks/{}", h.base, ids[0]))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, w) = h
        .post(
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.invalid/21"}),
        )
        .await;
    assert_eq!(status, 201, "a deleted subscription frees its place: {w}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_subscriptions_are_bounded_per_workspace_on_sqlite() {
    webhooks_are_bounded_per_workspace(Harness::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_subscriptions_are_bounded_per_workspace_on_postgres() {
    let Some(url) = testing::postgres_database() else {
        return;
    };
    webhooks_are_bounded_per_workspace(Harness::start(url).await).await;
}

/// A webhook target that takes each request and never answers.
async fn hung_target() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&hits);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (format!("http://{addr}/hook"), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_webhook_target_does_not_hold_back_another_targets_deliveries() {
    let h = Harness::sqlite().await;
    let (hung, hung_hits) = hung_target().await;
    let (fast, fast_receiver) = start_scripted().await;
    for url in [&hung, &fast] {
        let (status, w) = h
            .post(
                "/api/v1/webhooks",
                json!({"url": url, "event_types": ["message.created"]}),
            )
            .await;
        assert_eq!(status, 201, "{w}");
    }
    // Three events, one after the other: the hung target holds one delivery
    // after another (each until the 30 s timeout), the fast one gets every
    // event meanwhile.
    for n in 0..3 {
        h.push(&format!("e{n}"), "u1", &format!("m{n}"), "hi").await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while fast_receiver.hits.load(Ordering::SeqCst) < n + 1 {
            assert!(
                Instant::now() < deadline,
                "event {n} did not reach the fast target while the other hung"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(hung_hits.load(Ordering::SeqCst) >= 1);
}

/// A receiver that takes each request and never answers, counting the
/// requests, the connections open now and the most ever open at once.
#[derive(Clone, Default)]
struct Silent {
    hits: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
}

async fn silent_receiver() -> (String, Silent) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = Silent::default();
    let s = silent.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            s.hits.fetch_add(1, Ordering::SeqCst);
            let now = s.open.fetch_add(1, Ordering::SeqCst) + 1;
            s.most_open.fetch_max(now, Ordering::SeqCst);
            let open = Arc::clone(&s.open);
            // Read (and ignore) until the sender gives up and closes.
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 4096];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (format!("http://{addr}/hook"), silent)
}

/// A send whose receiver never answers is cancelled inside its one-second
/// lease (not left running beside its retry), retried until its attempts
/// run out, with never two attempts in flight; the one send slot it held
/// is free for the next reply each time it is cut off.
async fn a_send_that_outlives_its_lease_is_cancelled_and_retried(url: String) {
    let h = Harness::start_configured(url, "127.0.0.1", |config| {
        config.delivery.lease_secs = 1;
        config.delivery.concurrency = 1;
        config.delivery.backoff_base_ms = 200;
        config.delivery.backoff_max_ms = 200;
    })
    .await;
    let (url, silent) = silent_receiver().await;
    let channel = second_channel(&h, &url, false).await;
    let conversation = conversation_on(&h, channel, "silent-1").await;
    let started = Instant::now();
    let hung = reply(&h, conversation, "into the void").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while silent.hits.load(Ordering::SeqCst) < 1 {
        assert!(Instant::now() < deadline, "the receiver was never called");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Another reply waits for the only slot: it goes once the hung attempt
    // is cut off.
    h.push("after-1", "u-after", "m-after", "hello").await;
    let main = h
        .conversations()
        .await
        .into_iter()
        .find(|c| c["peer_external_id"] == "u-after")
        .unwrap();
    let next = reply(&h, main["id"].as_i64().unwrap(), "my turn").await;
    h.message_status_becomes(next, "sent").await;
    assert!(
        silent.hits.load(Ordering::SeqCst) < 4,
        "the next reply went between the hung one's attempts, not after them"
    );
    let failed = h.message_status_becomes(hung, "failed").await;
    let took = started.elapsed();
    assert_eq!(failed["error_code"], "retries_exhausted", "{failed}");
    assert!(
        failed["error_text"]
            .as_str()
            .unwrap_or_default()
            .contains("lease"),
        "{failed}"
    );
    // Four attempts (the harness's max) of about half a second each: far
    // less than one request timeout (10 s), so each was cut off early.
    assert_eq!(silent.hits.load(Ordering::SeqCst), 4);
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_eq!(
        silent.most_open.load(Ordering::SeqCst),
        1,
        "never two attempts in flight"
    );
    // Every cut-off attempt closed its connection.
    let deadline = Instant::now() + Duration::from_secs(2);
    while silent.open.load(Ordering::SeqCst) > 0 {
        assert!(Instant::now() < deadline, "an attempt is still open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_outlives_its_lease_is_cancelled_and_retried_on_sqlite() {
    a_send_that_outlives_its_lease_is_cancelled_and_retried(testing::sqlite_database()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_outlives_its_lease_is_cancelled_and_retried_on_postgres() {
    let Some(url) = testing::postgres_database() else {
        return;
    };
    a_send_that_outlives_its_lease_is_cancelled_and_retried(url).await;
}
