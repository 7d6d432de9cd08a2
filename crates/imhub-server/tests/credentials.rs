//! Credentials, sessions and the browser (issue 10 §3) end to end: a real
//! server on a real SQLite file, real HTTP, cookies as a browser keeps them.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use imhub_core::{Role, WorkspaceId};
use imhub_server::Config;
use imhub_store::{SqlStore, Store, StoreOptions, testing};
use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";

struct Server {
    base: String,
    store: Arc<SqlStore>,
    ws: WorkspaceId,
    /// An admin token of `ws`.
    admin: String,
    http: Client,
}

impl Server {
    async fn start() -> Server {
        Server::with(Config::default()).await
    }

    async fn with(config: Config) -> Server {
        let store = Arc::new(
            SqlStore::open(StoreOptions::new(testing::sqlite_database()))
                .await
                .unwrap(),
        );
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        };
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("shop").await.unwrap().id;
        let admin = imhub_server::auth::issue_api_token(store.as_ref(), ws, "admin", Role::Admin)
            .await
            .unwrap();
        Server {
            base: format!("http://{}", running.addr),
            store,
            ws,
            admin,
            http: Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `Origin` a browser showing the inbox sends.
    fn origin(&self) -> &str {
        &self.base
    }

    /// A new agent of `ws` with [`PASSWORD`].
    async fn agent(&self, ws: WorkspaceId, email: &str) -> i64 {
        imhub_server::auth::add_user(self.store.as_ref(), ws, email, "Ann", Role::Agent, PASSWORD)
            .await
            .unwrap()
            .id
            .0
    }

    /// A browser: keeps cookies, sends the inbox's `Origin` on writes.
    fn browser(&self) -> Browser {
        Browser {
            http: Client::builder().cookie_store(true).build().unwrap(),
            base: self.base.clone(),
        }
    }

    async fn admin_call(&self, req: RequestBuilder) -> (u16, Value) {
        read(req.bearer_auth(&self.admin).send().await.unwrap()).await
    }
}

struct Browser {
    http: Client,
    base: String,
}

impl Browser {
    async fn login(&self, body: Value) -> (u16, Value) {
        read(
            self.http
                .post(format!("{}/api/v1/session", self.base))
                .header("origin", &self.base)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn get(&self, path: &str) -> u16 {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A same-origin write, as the inbox makes it.
    fn write(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("origin", &self.base)
    }
}

async fn read(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn code(body: &Value) -> Option<&str> {
    body["code"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_throttled_per_email_with_retry_after() {
    let s = Server::start().await;
    s.agent(s.ws, "ann@shop.cn").await;
    let b = s.browser();
    for _ in 0..10 {
        let (status, p) = b
            .login(json!({"email": "ann@shop.cn", "password": "wrong password"}))
            .await;
        assert_eq!((status, code(&p)), (401, Some("invalid_credentials")));
    }
    let res = b
        .http
        .post(s.url("/api/v1/session"))
        .json(&json!({"email": "ANN@shop.cn", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429, "even the right password waits");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let (_, p) = read(res).await;
    assert_eq!(code(&p), Some("too_many_attempts"));
    // Another email from the same address is not locked out.
    s.agent(s.ws, "bob@shop.cn").await;
    let (status, _) = b
        .login(json!({"email": "bob@shop.cn", "password": PASSWORD}))
        .await;
    assert_eq!(status, 200);
}

/// A browser whose connections come from `ip` (any address of
/// 127.0.0.0/8 reaches the server on 127.0.0.1).
fn browser_from(s: &Server, ip: &str) -> Browser {
    Browser {
        http: Client::builder()
            .cookie_store(true)
            .local_address(ip.parse::<std::net::IpAddr>().ok())
            .build()
            .unwrap(),
        base: s.base.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_emails_from_one_client_address_get_429_too_many_attempts_with_retry_after() {
    let s = Server::start().await;
    s.agent(s.ws, "ann@shop.cn").await;
    let b = browser_from(&s, "127.0.0.3");
    // 50 attempts per address in 15 minutes, each email new (so the
    // per-email limit of 10 is never what stops them).
    let attempts = futures_util::future::join_all((0..50).map(|n| {
        b.login(json!({"email": format!("guess-{n}@shop.cn"), "password": "wrong password"}))
    }))
    .await;
    for (status, p) in &attempts {
        assert_eq!(
            (*status, code(p)),
            (401, Some("invalid_credentials")),
            "{p}"
        );
    }
    // The 51st from that address waits, a new email and the right password too.
    let res = b
        .http
        .post(s.url("/api/v1/session"))
        .json(&json!({"email": "ann@shop.cn", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429, "the address is throttled");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let (_, p) = read(res).await;
    assert_eq!(code(&p), Some("too_many_attempts"), "{p}");
    // The same email from another address is not: only the address is.
    let other = browser_from(&s, "127.0.0.4");
    let (status, p) = other
        .login(json!({"email": "ann@shop.cn", "password": PASSWORD}))
        .await;
    assert_eq!(status, 200, "{p}");
    // And an API token is never throttled by logins.
    let (status, _) = s
        .admin_call(s.http.get(s.url("/api/v1/conversations")))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_does_not_slow_the_api_down() {
    let s = Server::start().await;
    s.agent(s.ws, "ann@shop.cn").await;
    let list = |s: &Server| {
        let req = s.http.get(s.url("/api/v1/conversations"));
        let token = s.admin.clone();
        async move {
            let started = Instant::now();
            let res = req.bearer_auth(token).send().await.unwrap();
            assert_eq!(res.status(), 200);
            started.elapsed()
        }
    };
    // One login alone: what a password check costs here.
    let b = s.browser();
    let started = Instant::now();
    let (status, _) = b
        .login(json!({"email": "ann@shop.cn", "password": "wrong password"}))
        .await;
    assert_eq!(status, 401);
    let one_login = started.elapsed();
    // Forty wrong logins at once, each from an address of its own (so the
    // throttle lets every one reach the hashing pool).
    let flood: Vec<_> = (0..40)
        .map(|n| {
            let b = browser_from(&s, &format!("127.0.1.{}", n + 1));
            tokio::spawn(async move {
                b.login(json!({"email": format!("flood-{n}@shop.cn"), "password": "wrong"}))
                    .await
                    .0
            })
        })
        .collect();
    let flood_started = Instant::now();
    // Meanwhile the inbox lists conversations, one request after another.
    let mut during = Vec::new();
    while flood.iter().any(|t| !t.is_finished()) {
        during.push(list(&s).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let flood_took = flood_started.elapsed();
    for t in flood {
        let status = t.await.unwrap();
        assert!(
            status == 401 || status == 503,
            "a flooded login is refused, not failed: {status}"
        );
    }
    during.sort();
    let slowest = *during.last().unwrap();
    let median = during[during.len() / 2];
    eprintln!(
        "one login {one_login:?}; flood of 40 took {flood_took:?}; {} lists during it: \
         median {median:?}, slowest {slowest:?}",
        during.len()
    );
    // The hashing pool is bounded (two at a time), so the flood queues for
    // a while: long enough to be a flood...
    assert!(
        flood_took >= one_login * 5,
        "{flood_took:?} vs {one_login:?}"
    );
    assert!(during.len() >= 5, "{} lists", during.len());
    // ...while the store's readers stay free: each list answers in a small
    // part of the time the flood lasts, the typical one faster than a
    // single password check.
    assert!(slowest * 4 < flood_took, "slowest list {slowest:?}");
    assert!(
        median < one_login.max(Duration::from_millis(50)),
        "median {median:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_email_wrong_password_and_disabled_user_get_one_answer_in_the_same_time() {
    let s = Server::start().await;
    let ann = s.agent(s.ws, "ann@shop.cn").await;
    let dee = s.agent(s.ws, "dee@shop.cn").await;
    let (status, _) = s
        .admin_call(
            s.http
                .patch(s.url(&format!("/api/v1/users/{dee}")))
                .json(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    let b = s.browser();
    let mut answers = Vec::new();
    let mut fastest = Vec::new();
    for (i, (email, password)) in [
        ("ann@shop.cn", "wrong password"),
        ("nobody@shop.cn", PASSWORD),
        ("dee@shop.cn", PASSWORD),
    ]
    .into_iter()
    .enumerate()
    {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            answers.push(b.login(json!({"email": email, "password": password})).await);
            best = best.min(started.elapsed());
        }
        fastest.push((i, best));
    }
    for (status, p) in &answers {
        assert_eq!(
            (*status, p["detail"].clone()),
            (401, answers[0].1["detail"].clone())
        );
        assert_eq!(code(p), Some("invalid_credentials"));
    }
    // An unknown email is checked against a dummy hash: it is not answered
    // in a fraction of the time a wrong password takes.
    let wrong = fastest[0].1;
    for (_, t) in &fastest[1..] {
        assert!(*t * 3 >= wrong, "{t:?} vs wrong password {wrong:?}");
    }
    let _ = ann;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_cannot_log_in_and_loses_every_session_until_enabled() {
    let s = Server::start().await;
    let ann = s.agent(s.ws, "ann@shop.cn").await;
    let b = s.browser();
    let login = json!({"email": "ann@shop.cn", "password": PASSWORD});
    assert_eq!(b.login(login.clone()).await.0, 200);
    assert_eq!(b.get("/api/v1/conversations").await, 200);
    let disable = |disabled: bool| {
        s.http
            .patch(s.url(&format!("/api/v1/users/{ann}")))
            .json(&json!({ "disabled": disabled }))
    };
    let (status, user) = s.admin_call(disable(true)).await;
    assert_eq!((status, user["disabled"].as_bool()), (200, Some(true)));
    assert_eq!(b.get("/api/v1/conversations").await, 401);
    let (status, p) = b.login(login.clone()).await;
    assert_eq!((status, code(&p)), (401, Some("invalid_credentials")));
    let (status, user) = s.admin_call(disable(false)).await;
    assert_eq!((status, user["disabled"].as_bool()), (200, Some(false)));
    assert_eq!(b.login(login).await.0, 200);
    assert_eq!(b.get("/api/v1/conversations").await, 200);
    // Bad input: unknown fields, another workspace's user, an agent's token.
    let (status, p) = s
        .admin_call(
            s.http
                .patch(s.url(&format!("/api/v1/users/{ann}")))
                .json(&json!({"disabled": true, "colour": "red"})),
        )
        .await;
    assert_eq!((status, code(&p)), (422, Some("invalid_request")));
    let other = s.store.create_workspace("other").await.unwrap().id;
    let outsider = imhub_server::auth::issue_api_token(s.store.as_ref(), other, "o", Role::Admin)
        .await
        .unwrap();
    let res = disable(true).bearer_auth(&outsider).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let agent = imhub_server::auth::issue_api_token(s.store.as_ref(), s.ws, "a", Role::Agent)
        .await
        .unwrap();
    let res = disable(true).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(b.get("/api/v1/conversations").await, 200, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_ones_password_needs_the_current_one_and_ends_the_other_sessions() {
    let s = Server::start().await;
    s.agent(s.ws, "ann@shop.cn").await;
    let (laptop, phone) = (s.browser(), s.browser());
    let login = json!({"email": "ann@shop.cn", "password": PASSWORD});
    assert_eq!(laptop.login(login.clone()).await.0, 200);
    assert_eq!(phone.login(login.clone()).await.0, 200);
    let change = |current: &str, new: &str| {
        laptop
            .write(reqwest::Method::PUT, "/api/v1/session/password")
            .json(&json!({"current_password": current, "new_password": new}))
    };
    let (status, p) = read(change("not it", "a new password").send().await.unwrap()).await;
    assert_eq!((status, code(&p)), (403, Some("wrong_password")));
    let (status, p) = read(change(PASSWORD, "short").send().await.unwrap()).await;
    assert_eq!((status, code(&p)), (422, Some("weak_password")));
    assert_eq!(
        phone.get("/api/v1/conversations").await,
        200,
        "nothing changed"
    );
    let (status, _) = read(change(PASSWORD, "a new password").send().await.unwrap()).await;
    assert_eq!(status, 204);
    assert_eq!(
        laptop.get("/api/v1/conversations").await,
        200,
        "this session stays"
    );
    assert_eq!(
        phone.get("/api/v1/conversations").await,
        401,
        "the others end"
    );
    assert_eq!(phone.login(login).await.0, 401, "the old password is gone");
    let (status, _) = phone
        .login(json!({"email": "ann@shop.cn", "password": "a new password"}))
        .await;
    assert_eq!(status, 200);
    // An API token is no user.
    let (status, p) = s
        .admin_call(
            s.http
                .put(s.url("/api/v1/session/password"))
                .json(&json!({"current_password": PASSWORD, "new_password": "whatever123"})),
        )
        .await;
    assert_eq!((status, code(&p)), (403, Some("not_a_user")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reset_or_delete_ends_the_users_sessions() {
    let s = Server::start().await;
    let ann = s.agent(s.ws, "ann@shop.cn").await;
    let b = s.browser();
    assert_eq!(
        b.login(json!({"email": "ann@shop.cn", "password": PASSWORD}))
            .await
            .0,
        200
    );
    let reset = |password: &str| {
        s.http
            .put(s.url(&format!("/api/v1/users/{ann}/password")))
            .json(&json!({ "password": password }))
    };
    let (status, p) = s.admin_call(reset("short")).await;
    assert_eq!((status, code(&p)), (422, Some("weak_password")));
    assert_eq!(b.get("/api/v1/conversations").await, 200);
    let (status, _) = s.admin_call(reset("set by the admin")).await;
    assert_eq!(status, 204);
    assert_eq!(b.get("/api/v1/conversations").await, 401);
    let (status, _) = b
        .login(json!({"email": "ann@shop.cn", "password": "set by the admin"}))
        .await;
    assert_eq!(status, 200);
    let (status, list) = s.admin_call(s.http.get(s.url("/api/v1/users"))).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("password_hash").is_none());
    let (status, _) = s
        .admin_call(s.http.delete(s.url(&format!("/api/v1/users/{ann}"))))
        .await;
    assert_eq!(status, 204);
    assert_eq!(b.get("/api/v1/conversations").await, 401);
    let (status, _) = s
        .admin_call(s.http.delete(s.url(&format!("/api/v1/users/{ann}"))))
        .await;
    assert_eq!(status, 404);
    let (status, _) = s.admin_call(s.http.delete(s.url("/api/v1/users/x"))).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_cannot_disable_or_delete_their_own_user() {
    let s = Server::start().await;
    let boss = imhub_server::auth::add_user(
        s.store.as_ref(),
        s.ws,
        "boss@shop.cn",
        "Boss",
        Role::Admin,
        PASSWORD,
    )
    .await
    .unwrap()
    .id
    .0;
    let b = s.browser();
    assert_eq!(
        b.login(json!({"email": "boss@shop.cn", "password": PASSWORD}))
            .await
            .0,
        200
    );
    let (status, p) = read(
        b.write(reqwest::Method::PATCH, &format!("/api/v1/users/{boss}"))
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code(&p)), (422, Some("cannot_disable_self")));
    let (status, p) = read(
        b.write(reqwest::Method::DELETE, &format!("/api/v1/users/{boss}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code(&p)), (422, Some("cannot_delete_self")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everywhere_ends_all_of_ones_sessions() {
    let s = Server::start().await;
    s.agent(s.ws, "ann@shop.cn").await;
    s.agent(s.ws, "bob@shop.cn").await;
    let (laptop, phone, bob) = (s.browser(), s.browser(), s.browser());
    for (b, email) in [
        (&laptop, "ann@shop.cn"),
        (&phone, "ann@shop.cn"),
        (&bob, "bob@shop.cn"),
    ] {
        assert_eq!(
            b.login(json!({"email": email, "password": PASSWORD}))
                .await
                .0,
            200
        );
    }
    let res = laptop
        .write(reqwest::Method::POST, "/api/v1/session/logout-everywhere")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(laptop.get("/api/v1/conversations").await, 401);
    assert_eq!(phone.get("/api/v1/conversations").await, 401);
    assert_eq!(bob.get("/api/v1/conversations").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_listed_without_their_secret_and_revoked_at_once() {
    let s = Server::start().await;
    let (status, created) = s
        .admin_call(
            s.http
                .post(s.url("/api/v1/tokens"))
                .json(&json!({"name": "ci", "role": "agent"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    let use_it = || {
        s.http
            .get(s.url("/api/v1/conversations"))
            .bearer_auth(&secret)
    };
    assert_eq!(use_it().send().await.unwrap().status(), 200);
    let (status, list) = s.admin_call(s.http.get(s.url("/api/v1/tokens"))).await;
    assert_eq!(status, 200);
    let listed = list.to_string();
    assert!(!listed.contains(&secret), "the secret is never listed");
    assert!(!listed.contains(&imhub_server::auth::hash_secret(&secret)));
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let ci = items.iter().find(|t| t["id"] == id).unwrap();
    assert_eq!(
        (ci["name"].as_str(), ci["role"].as_str()),
        (Some("ci"), Some("agent"))
    );
    assert!(ci["last_used_at"].is_string(), "{ci}");
    assert!(ci.get("expires_at").is_none());
    // An agent token may not list or revoke; another workspace sees nothing.
    let res = s
        .http
        .get(s.url("/api/v1/tokens"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let other = s.store.create_workspace("other").await.unwrap().id;
    let outsider = imhub_server::auth::issue_api_token(s.store.as_ref(), other, "o", Role::Admin)
        .await
        .unwrap();
    let res = s
        .http
        .delete(s.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&outsider)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(use_it().send().await.unwrap().status(), 200);
    let (status, _) = s
        .admin_call(s.http.delete(s.url(&format!("/api/v1/tokens/{id}"))))
        .await;
    assert_eq!(status, 204);
    assert_eq!(use_it().send().await.unwrap().status(), 401);
    let (status, _) = s
        .admin_call(s.http.delete(s.url(&format!("/api/v1/tokens/{id}"))))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_gets_401_and_bad_expiries_are_refused() {
    let s = Server::start().await;
    let create = |body: Value| s.http.post(s.url("/api/v1/tokens")).json(&body);
    let in_a_year =
        serde_json::to_value(imhub_core::Timestamp::now().plus_millis(365 * 24 * 3600 * 1000))
            .unwrap();
    let (status, created) = s
        .admin_call(create(
            json!({"name": "short", "role": "agent", "expires_in_secs": 1}),
        ))
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["expires_at"].is_string());
    let secret = created["token"].as_str().unwrap().to_string();
    let use_it = || {
        s.http
            .get(s.url("/api/v1/conversations"))
            .bearer_auth(&secret)
    };
    assert_eq!(use_it().send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(use_it().send().await.unwrap().status(), 401);
    let (status, created) = s
        .admin_call(create(
            json!({"name": "dated", "role": "agent", "expires_at": in_a_year}),
        ))
        .await;
    assert_eq!(status, 201, "{created}");
    for bad in [
        json!({"name": "t", "role": "agent", "expires_in_secs": 0}),
        json!({"name": "t", "role": "agent", "expires_in_secs": 400_000_000u64}),
        json!({"name": "t", "role": "agent", "expires_at": "2001-01-01T00:00:00Z"}),
        json!({"name": "t", "role": "agent", "expires_at": "2099-01-01T00:00:00Z"}),
        json!({"name": "t", "role": "agent", "expires_at": "2099-01-01T00:00:00Z", "expires_in_secs": 5}),
    ] {
        let (status, p) = s.admin_call(create(bad.clone())).await;
        assert_eq!((status, code(&p)), (422, Some("invalid_expiry")), "{bad}");
    }
    let (status, p) = s
        .admin_call(create(
            json!({"name": "t", "role": "agent", "expires_in_secs": -5}),
        ))
        .await;
    assert_eq!((status, code(&p)), (422, Some("invalid_request")));
    let (status, p) = s
        .admin_call(create(json!({"name": "  ", "role": "agent"})))
        .await;
    assert_eq!((status, code(&p)), (422, Some("invalid_name")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_writes_must_come_from_the_inbox_origin_and_tokens_are_unaffected() {
    let s = Server::start().await;
    s.agent(s.ws, "ann@shop.cn").await;
    let b = s.browser();
    assert_eq!(
        b.login(json!({"email": "ann@shop.cn", "password": PASSWORD}))
            .await
            .0,
        200
    );
    let path = s.url("/api/v1/session/logout-everywhere");
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let (status, p) = read(b.http.post(&path).header(name, value).send().await.unwrap()).await;
        assert_eq!(
            (status, code(&p)),
            (403, Some("cross_origin")),
            "{name}: {value}"
        );
    }
    let (status, p) = read(b.http.post(&path).send().await.unwrap()).await;
    assert_eq!(
        (status, code(&p)),
        (403, Some("cross_origin")),
        "neither Origin nor Sec-Fetch-Site"
    );
    // Reading is not guarded: a cross-site page cannot read the answer anyway.
    let res = b
        .http
        .get(s.url("/api/v1/session"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A bearer token is never sent by a browser on its own: no origin rule.
    let res = s
        .http
        .post(s.url("/api/v1/tokens"))
        .bearer_auth(&s.admin)
        .header("origin", "https://evil.example")
        .json(&json!({"name": "x", "role": "agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // A login posted from another site is refused (login CSRF).
    let (status, p) = read(
        s.http
            .post(s.url("/api/v1/session"))
            .header("origin", "https://evil.example")
            .json(&json!({"email": "ann@shop.cn", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code(&p)), (403, Some("cross_origin")));
    // Sec-Fetch-Site alone will do; and the inbox's own origin passes.
    let res = b
        .http
        .post(&path)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        b.login(json!({"email": "ann@shop.cn", "password": PASSWORD}))
            .await
            .0,
        200
    );
    let res = b
        .http
        .post(&path)
        .header("origin", s.origin())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_secure_when_the_inbox_is_served_over_https() {
    for (public_url, secure) in [
        (None, false),
        (Some("http://inbox.example.com"), false),
        (Some("https://inbox.example.com"), true),
    ] {
        let s = Server::with(Config {
            public_url: public_url.map(String::from),
            ..Config::default()
        })
        .await;
        s.agent(s.ws, "ann@shop.cn").await;
        let res = s
            .http
            .post(s.url("/api/v1/session"))
            .json(&json!({"email": "ann@shop.cn", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert_eq!(
            cookie.contains("; Secure"),
            secure,
            "{public_url:?}: {cookie}"
        );
        if let Some(public) = public_url {
            // The public origin passes the origin rule though Host differs.
            let session = cookie.split(';').next().unwrap().to_string();
            let res = s
                .http
                .post(s.url("/api/v1/session/logout-everywhere"))
                .header("cookie", session)
                .header("origin", public)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 204);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_browser_hardening_headers() {
    let s = Server::start().await;
    for path in [
        "/",
        "/inbox/app.js",
        "/inbox/style.css",
        "/api/v1/session",
        "/healthz",
    ] {
        let res = s.http.get(s.url(path)).send().await.unwrap();
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_media_that_is_not_an_image_is_served_as_an_attachment() {
    let s = Server::start().await;
    for (content_type, disposition) in [
        ("image/png", "inline"),
        ("application/pdf", "attachment"),
        ("video/mp4", "attachment"),
    ] {
        let (status, up) = s
            .admin_call(
                s.http
                    .post(s.url("/api/v1/media"))
                    .header("content-type", content_type)
                    .body(b"\x89PNG not really".to_vec()),
            )
            .await;
        assert_eq!(status, 201, "{up}");
        let key = up["key"].as_str().unwrap();
        let res = s
            .http
            .get(s.url(&format!("/media/{key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let h = res.headers();
        assert_eq!(h["content-disposition"], disposition, "{content_type}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("sandbox")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_in_two_workspaces_tells_neither_about_the_other() {
    let s = Server::start().await;
    let other = s.store.create_workspace("other shop").await.unwrap().id;
    let other_admin =
        imhub_server::auth::issue_api_token(s.store.as_ref(), other, "o", Role::Admin)
            .await
            .unwrap();
    s.agent(s.ws, "ann@shop.cn").await;
    let create = |token: &str, password: &str| {
        s.http
            .post(s.url("/api/v1/users"))
            .bearer_auth(token)
            .json(&json!({"email": "Ann@Shop.cn", "name": "Ann", "password": password}))
    };
    // The other workspace creates the same email as if it were new.
    let (status, p) = read(create(&other_admin, "other password").send().await.unwrap()).await;
    assert_eq!(status, 201, "{p}");
    let (status, p) = read(
        create(&other_admin, "again and again")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code(&p)),
        (409, Some("conflict")),
        "taken in its own workspace"
    );
    let b = s.browser();
    let who = |p: &Value| p["workspace_id"].as_i64();
    let (status, p) = b
        .login(json!({"email": "ann@shop.cn", "password": PASSWORD}))
        .await;
    assert_eq!((status, who(&p)), (200, Some(s.ws.0)));
    let (status, p) = b
        .login(json!({"email": "ann@shop.cn", "password": "other password"}))
        .await;
    assert_eq!((status, who(&p)), (200, Some(other.0)));
    // Naming the workspace picks that one only.
    let (status, p) = b
        .login(json!({"email": "ann@shop.cn", "password": PASSWORD, "workspace_id": other.0}))
        .await;
    assert_eq!((status, code(&p)), (401, Some("invalid_credentials")));
    let (status, p) = b
        .login(json!({"email": "ann@shop.cn", "password": PASSWORD, "workspace_id": s.ws.0}))
        .await;
    assert_eq!((status, who(&p)), (200, Some(s.ws.0)));
    // The same password in both: only naming the workspace signs in, and the
    // failure without it is the ordinary one.
    let (status, _) = read(
        s.http
            .put(s.url(&format!(
                "/api/v1/users/{}/password",
                s.store.list_users(other).await.unwrap()[0].id.0
            )))
            .bearer_auth(&other_admin)
            .json(&json!({ "password": PASSWORD }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 204);
    let (status, p) = b
        .login(json!({"email": "ann@shop.cn", "password": PASSWORD}))
        .await;
    assert_eq!((status, code(&p)), (401, Some("invalid_credentials")));
    let (status, p) = b
        .login(json!({"email": "ann@shop.cn", "password": PASSWORD, "workspace_id": other.0}))
        .await;
    assert_eq!((status, who(&p)), (200, Some(other.0)));
    // Each workspace lists its own user only.
    let (_, mine) = s.admin_call(s.http.get(s.url("/api/v1/users"))).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
}
