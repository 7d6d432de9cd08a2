//! Synthetic data for the store benchmark (`imhub bench store`): one
//! workspace with many conversations and messages, inserted set-wise so
//! that seeding ten million rows takes minutes, not hours.

use imhub_core::{AccountId, ChannelId, Platform, Timestamp, WorkspaceId};

use crate::{
    SqlStore, Store, StoreError,
    db::{Db, Dialect, Value},
};

/// What was seeded.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub workspace: WorkspaceId,
    pub channel: ChannelId,
    pub first_conversation: i64,
    pub conversations: i64,
    pub messages: i64,
}

/// Numbers 1..=n as a row source, in each dialect.
fn series(dialect: Dialect, n: i64) -> String {
    match dialect {
        Dialect::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "
        ),
        Dialect::Postgres => format!("WITH n(i) AS (SELECT generate_series(1, {n})::BIGINT) "),
    }
}

/// Seeds `conversations` direct conversations over ten accounts, each with
/// `per_conversation` messages; a third of the conversations are unread.
pub async fn seed(
    store: &SqlStore,
    conversations: i64,
    per_conversation: i64,
) -> Result<Seeded, StoreError> {
    let ws = store.create_workspace("benchmark").await?;
    let channel = store
        .create_channel(
            ws.id,
            Platform::Custom,
            "bench",
            &serde_json::json!({"secret": "benchmark-secret-0000"}),
        )
        .await?;
    let mut accounts: Vec<AccountId> = Vec::new();
    for i in 0..10 {
        accounts.push(
            store
                .create_account(
                    ws.id,
                    channel.id,
                    &format!("acc-{i}"),
                    &format!("Store {i}"),
                )
                .await?
                .id,
        );
    }
    let (w, ch, acc0) = (ws.id.0, channel.id.0, accounts[0].0);
    let t0 = Timestamp::now().millis() - conversations * 1000;
    store
        .write_raw(move |db: &mut dyn Db| {
            let n = series(db.dialect(), conversations);
            db.execute(
                &format!(
                    "{n}INSERT INTO contacts (workspace_id, channel_id, external_id, nickname) \
                     SELECT {w}, {ch}, 'c' || i, 'customer ' || i FROM n"
                ),
                &[],
            )?;
            let c0 = db
                .query_one(
                    "SELECT MIN(id) FROM contacts WHERE channel_id = $1",
                    &[ch.into()],
                )?
                .int(0)?;
            db.execute(
                &format!(
                    "{n}INSERT INTO conversations (workspace_id, channel_id, account_id, platform, \
                       kind, contact_id, peer_external_id, title, status, unread_count, \
                       last_message_preview, last_activity_at, last_inbound_at, created_at) \
                     SELECT {w}, {ch}, {acc0} + (i % 10), 'custom', 'direct', {c0} + i - 1, \
                       'c' || i, 'customer ' || i, 'open', i % 3, 'the last message', \
                       {t0} + i * 1000, {t0} + i * 1000, {t0} FROM n"
                ),
                &[],
            )?;
            Ok(())
        })
        .await?;
    // Realistic text for the search benchmark: each message takes one of
    // the corpus's phrases (`bench_phrases`), picked by a hash of its
    // conversation and position. The B-tree and GIN indexes of search are
    // built after the load (faster); SQLite's FTS triggers stay on, so the
    // trigram index is written the way ingest writes it.
    let phrases = load_corpus(store, corpus_size(conversations * per_conversation)).await?;
    drop_search_btrees(store).await?;
    for j in 0..per_conversation {
        store
            .write_raw(move |db: &mut dyn Db| {
                let content = match db.dialect() {
                    Dialect::Sqlite => "json_object('type', 'text', 'text', p.text)",
                    Dialect::Postgres => "json_build_object('type', 'text', 'text', p.text)::TEXT",
                };
                db.execute(
                    &format!(
                        "INSERT INTO messages (workspace_id, conversation_id, channel_id, \
                           direction, content, status, platform_message_id, created_at, updated_at) \
                         SELECT {w}, c.id, {ch}, CASE WHEN {j} % 2 = 0 THEN 'in' ELSE 'out' END, \
                           {content}, 'delivered', 'p' || c.id || '-{j}', \
                           c.last_activity_at - ({per_conversation} - {j}) * 10, \
                           c.last_activity_at FROM conversations c \
                         JOIN bench_phrases p ON p.i = (c.id * 7919 + {j} * 104729) % {phrases} \
                         WHERE c.channel_id = {ch}"
                    ),
                    &[],
                )?;
                Ok(())
            })
            .await?;
    }
    restore_search_index(store).await?;
    let first_conversation = store
        .write_raw(move |db: &mut dyn Db| {
            db.batch("ANALYZE")?;
            db.query_one(
                "SELECT MIN(id) FROM conversations WHERE channel_id = $1",
                &[ch.into()],
            )?
            .int(0)
        })
        .await?;
    Ok(Seeded {
        workspace: ws.id,
        channel: channel.id,
        first_conversation,
        conversations,
        messages: conversations * per_conversation,
    })
}

/// The data an earlier run seeded into this database, to measure again
/// without seeding again.
pub async fn find_seeded(store: &SqlStore) -> Result<Option<Seeded>, StoreError> {
    store
        .read_raw(|db: &mut dyn Db| {
            let Some(row) = db.query_opt(
                "SELECT w.id, c.id, MIN(v.id), COUNT(v.id) FROM workspaces w \
                 JOIN channels c ON c.workspace_id = w.id \
                 JOIN conversations v ON v.channel_id = c.id \
                 WHERE w.name = 'benchmark' GROUP BY w.id, c.id ORDER BY w.id DESC LIMIT 1",
                &[],
            )?
            else {
                return Ok(None);
            };
            let (ws, channel, first, count) = (row.int(0)?, row.int(1)?, row.int(2)?, row.int(3)?);
            let messages = db
                .query_one(
                    "SELECT COUNT(*) FROM messages WHERE channel_id = $1",
                    &[channel.into()],
                )?
                .int(0)?;
            Ok(Some(Seeded {
                workspace: WorkspaceId(ws),
                channel: ChannelId(channel),
                first_conversation: first,
                conversations: count,
                messages,
            }))
        })
        .await
}

/// Gives these conversations unread messages again, so that marking them
/// read is a real write.
pub async fn make_unread(store: &SqlStore, conversations: Vec<i64>) -> Result<(), StoreError> {
    store
        .write_raw(move |db: &mut dyn Db| {
            for id in conversations {
                db.execute(
                    "UPDATE conversations SET unread_count = 3 WHERE id = $1",
                    &[id.into()],
                )?;
            }
            Ok(())
        })
        .await
}

/// The cheapest read through the same path (pool, blocking thread): the
/// baseline the benchmark's figures are compared with.
pub async fn baseline_read(store: &SqlStore) -> Result<(), StoreError> {
    store
        .read_raw(|db: &mut dyn Db| db.query_one("SELECT 1", &[]).map(|_| ()))
        .await
}

// ---------------------------------------------------------------------------
// Search: the corpus and the index switches of the benchmarks.

/// The benchmark corpus's deterministic random numbers (splitmix64), so
/// every run on every machine seeds the same text.
pub struct Corpus {
    state: u64,
}

const PRODUCTS: &[&str] = &[
    "蓝牙耳机",
    "保温杯",
    "连衣裙",
    "运动鞋",
    "扫地机器人",
    "电饭煲",
    "面膜",
    "洗发水",
    "手机壳",
    "充电宝",
    "羽绒服",
    "牛仔裤",
    "空气炸锅",
    "猫粮",
    "婴儿奶粉",
    "口红",
    "黄焖鸡米饭",
    "麻辣香锅",
    "珍珠奶茶",
    "冰美式",
    "小龙虾",
    "机械键盘",
    "无线鼠标",
    "电动牙刷",
    "行李箱",
    "瑜伽垫",
    "护手霜",
    "茶叶礼盒",
    "坚果大礼包",
    "儿童书包",
    "iPhone 15",
    "AirPods",
    "Switch",
    "T恤",
];
const EN_PRODUCTS: &[&str] = &[
    "wireless earbuds",
    "phone case",
    "air fryer",
    "yoga mat",
    "gift card",
    "running shoes",
    "coffee beans",
    "power bank",
    "keyboard",
    "backpack",
];
const CITIES: &[&str] = &[
    "北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", "苏州", "长沙",
];
const COLORS: &[&str] = &[
    "黑色",
    "白色",
    "红色",
    "蓝色",
    "粉色",
    "灰色",
    "米白色",
    "藏青色",
];
const NAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
const EN_WORDS: &[&str] = &[
    "hello", "please", "thanks", "order", "refund", "delivery", "size", "coupon", "invoice",
    "address", "urgent", "ok", "sorry", "price", "discount", "tracking",
];
/// Customer-service phrases with slots: {p} product, {e} English product,
/// {c} city, {k} colour, {n} surname, {w} English word, {o} order number,
/// {d} a small number, {t} a tracking number, {m} a price.
const TEMPLATES: &[&str] = &[
    "您好，请问{p}什么时候发货？",
    "我的订单{o}还没收到，快递显示在{c}",
    "{p}有没有{k}的？",
    "已经申请退款了，订单号{o}，麻烦尽快处理",
    "亲，{p}今天下单明天就能发出哦",
    "这个{p}尺码偏大还是偏小？我身高{d}0",
    "优惠券用不了，提示已过期，能补发一张吗",
    "麻烦帮我改一下收货地址，改成{c}市{d}号",
    "收到的{p}有破损，可以换货吗",
    "Hi, is the {e} still in stock?",
    "please refund order {o}",
    "{w} {w}，{p}可以便宜点吗",
    "好的，谢谢",
    "在吗？",
    "亲亲，{p}已经为您备注加急",
    "发票抬头是{c}{n}氏贸易有限公司，税号9144{o}",
    "物流单号 SF{t}，请查收",
    "客服小{n}为您服务，请问有什么可以帮您",
    "{p}保修多久？坏了怎么办",
    "直播间说的{m}元是真的吗",
    "{p}和{p}一起买有优惠吗",
    "我要投诉，{p}三天了还没发货",
    "Can I change the size? {w}",
    "The {e} arrived broken, {w} help",
    "已为您登记，{d}个工作日内回复",
    "亲，七天无理由退换货的，放心购买",
    "外卖怎么还没到，已经等了{d}分钟了",
    "骑手说{c}那边下大雨，可能会晚一点",
    "可以开发票吗？要{k}包装",
    "拍错了，{p}想换成{k}",
    "{p}怎么用？说明书看不懂",
    "下单满{m}减20，活动到月底",
    "tracking number {t} shows delivered but I got nothing",
    "谢谢亲的耐心等待，祝您生活愉快",
];

impl Corpus {
    /// A corpus seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Corpus { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }

    /// One customer-service message: mixed Chinese and English, product
    /// names, order and tracking numbers.
    pub fn phrase(&mut self) -> String {
        let template = self.pick(TEMPLATES);
        let mut out = String::with_capacity(template.len() + 32);
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            if c != '{' {
                out.push(c);
                continue;
            }
            let slot = chars.next().unwrap_or('}');
            chars.next();
            match slot {
                'p' => out.push_str(self.pick(PRODUCTS)),
                'e' => out.push_str(self.pick(EN_PRODUCTS)),
                'c' => out.push_str(self.pick(CITIES)),
                'k' => out.push_str(self.pick(COLORS)),
                'n' => out.push_str(self.pick(NAMES)),
                'w' => out.push_str(self.pick(EN_WORDS)),
                'o' => out.push_str(&format!("{}", 2024_0000_0000u64 + self.below(1_0000_0000))),
                'd' => out.push_str(&format!("{}", 1 + self.below(30))),
                't' => out.push_str(&format!("{}", 1_000_000_000u64 + self.below(9_000_000_000))),
                'm' => out.push_str(&format!("{}", 9 + self.below(990))),
                _ => {}
            }
        }
        out
    }
}

/// Distinct phrases for a load of `messages`: about one per ten messages,
/// so order and tracking numbers repeat a little, words a lot.
fn corpus_size(messages: i64) -> i64 {
    (messages / 10).clamp(1_000, 2_000_000)
}

/// Fills `bench_phrases (i, text)` with `count` phrases of seed 12; returns
/// how many.
async fn load_corpus(store: &SqlStore, count: i64) -> Result<i64, StoreError> {
    store
        .write_raw(|db: &mut dyn Db| {
            db.batch(
                "DROP TABLE IF EXISTS bench_phrases; \
                 CREATE TABLE bench_phrases (i BIGINT PRIMARY KEY, text TEXT NOT NULL)",
            )
        })
        .await?;
    let mut corpus = Corpus::new(12);
    let mut next = 0i64;
    while next < count {
        let rows = (count - next).min(50_000);
        let batch: Vec<String> = (0..rows).map(|_| corpus.phrase()).collect();
        let start = next;
        store
            .write_raw(move |db: &mut dyn Db| {
                for (k, chunk) in batch.chunks(500).enumerate() {
                    let mut sql = String::from("INSERT INTO bench_phrases (i, text) VALUES ");
                    let mut params = Vec::with_capacity(chunk.len() * 2);
                    for (n, text) in chunk.iter().enumerate() {
                        if n > 0 {
                            sql.push_str(", ");
                        }
                        sql.push_str(&format!("(${}, ${})", 2 * n + 1, 2 * n + 2));
                        params.push(Value::Int(start + (k * 500 + n) as i64));
                        params.push(Value::Text(text.clone()));
                    }
                    db.execute(&sql, &params)?;
                }
                Ok(())
            })
            .await?;
        next += rows;
    }
    Ok(count)
}

/// The statements between `-- {name}:begin` and `-- {name}:end` of a migration.
fn marked(sql: &str, name: &str) -> Result<String, StoreError> {
    let begin = format!("-- {name}:begin");
    let end = format!("-- {name}:end");
    let from = sql.find(&begin).map(|i| i + begin.len());
    let to = sql.find(&end);
    match (from, to) {
        (Some(from), Some(to)) if from <= to => Ok(sql[from..to].to_string()),
        _ => Err(StoreError::Database(format!(
            "the search migration has no {name} section"
        ))),
    }
}

const SQLITE_SEARCH: &str = include_str!("../migrations/sqlite/0010_search.sql");
const SQLITE_INGEST: &str = include_str!("../migrations/sqlite/0019_ingest.sql");
const POSTGRES_SEARCH: &str = include_str!("../migrations/postgres/0010_search.sql");
const POSTGRES_SEARCH_HOURS: &str = include_str!("../migrations/postgres/0020_search_hours.sql");
const POSTGRES_SEARCH_TEXT: &str = include_str!("../migrations/postgres/0021_search_text.sql");

/// Drops the B-tree (and on PostgreSQL the GIN) index of search before a
/// bulk load; [`restore_search_index`] builds them after it.
async fn drop_search_btrees(store: &SqlStore) -> Result<(), StoreError> {
    store
        .write_raw(|db: &mut dyn Db| match db.dialect() {
            Dialect::Sqlite => db.batch("DROP INDEX IF EXISTS messages_by_workspace_time"),
            Dialect::Postgres => db.batch(
                "DROP INDEX IF EXISTS messages_by_workspace_time; \
                 DROP INDEX IF EXISTS messages_search_trgm; \
                 DROP INDEX IF EXISTS messages_search_hours",
            ),
        })
        .await
}

/// Takes everything search adds to the write path away, for the ingest
/// benchmark's baseline: the FTS triggers (SQLite), the fill triggers and
/// the GIN index (PostgreSQL), and the time index. The `search_text`
/// column stays on both (ingest writes it in its INSERT). Search does not
/// work until [`restore_search_index`].
pub async fn drop_search_index(store: &SqlStore) -> Result<(), StoreError> {
    store
        .write_raw(|db: &mut dyn Db| match db.dialect() {
            Dialect::Sqlite => db.batch(
                "DROP TRIGGER IF EXISTS messages_search_insert; \
                 DROP TRIGGER IF EXISTS messages_search_fill; \
                 DROP TRIGGER IF EXISTS messages_search_update; \
                 DROP TRIGGER IF EXISTS messages_search_delete; \
                 DROP INDEX IF EXISTS messages_by_workspace_time",
            ),
            Dialect::Postgres => db.batch(
                "DROP INDEX IF EXISTS messages_by_workspace_time; \
                 DROP INDEX IF EXISTS messages_search_hours; \
                 DROP TRIGGER IF EXISTS messages_search_fill ON messages; \
                 DROP TRIGGER IF EXISTS messages_search_refill ON messages",
            ),
        })
        .await
}

/// Puts back what [`drop_search_index`] (or a bulk load) took away, from
/// the migration's own statements, and indexes every message again where
/// rows were written without it.
pub async fn restore_search_index(store: &SqlStore) -> Result<(), StoreError> {
    store
        .write_raw(|db: &mut dyn Db| match db.dialect() {
            Dialect::Sqlite => {
                let triggers_were_off = db
                    .query_opt(
                        "SELECT 1 FROM sqlite_master WHERE type = 'trigger' \
                         AND name = 'messages_search_insert'",
                        &[],
                    )?
                    .is_none();
                if triggers_were_off {
                    db.batch("INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')")?;
                    db.batch(&marked(SQLITE_SEARCH, "search-backfill")?)?;
                }
                db.batch(&marked(SQLITE_SEARCH, "search-index")?)?;
                // 0019 replaced 0010's insert and update triggers.
                db.batch(
                    "DROP TRIGGER IF EXISTS messages_search_insert; \
                     DROP TRIGGER IF EXISTS messages_search_update",
                )?;
                db.batch(&marked(SQLITE_INGEST, "search-index")?)?;
                db.batch("ANALYZE")
            }
            Dialect::Postgres => {
                db.batch("SET maintenance_work_mem = '1GB'")?;
                // 0020 replaced 0010's GIN index by one with the hours.
                let search = marked(POSTGRES_SEARCH, "search-index")?;
                let gin = marked(POSTGRES_SEARCH, "search-gin")?;
                db.batch(&search.replace(&gin, "\n"))?;
                db.batch(&marked(POSTGRES_SEARCH_HOURS, "search-index")?)?;
                // 0021 fills the column from the INSERT or its triggers.
                db.batch(&marked(POSTGRES_SEARCH_TEXT, "search-index")?)?;
                db.batch("RESET maintenance_work_mem; ANALYZE messages")
            }
        })
        .await
}

/// `count` texts of random messages of the workspace (seeded), for the
/// search benchmark to take its queries from.
pub async fn sample_texts(
    store: &SqlStore,
    ws: WorkspaceId,
    count: usize,
    seed: u64,
) -> Result<Vec<String>, StoreError> {
    store
        .read_raw(move |db: &mut dyn Db| {
            let row = db.query_one(
                "SELECT MIN(id), MAX(id) FROM messages WHERE workspace_id = $1",
                &[ws.0.into()],
            )?;
            let (Some(lo), Some(hi)) = (row.opt_int(0)?, row.opt_int(1)?) else {
                return Ok(Vec::new());
            };
            let mut corpus = Corpus::new(seed);
            let mut out = Vec::with_capacity(count);
            let mut tries = 0;
            while out.len() < count && tries < count * 20 {
                tries += 1;
                let id = lo + corpus.below((hi - lo + 1) as u64) as i64;
                if let Some(row) = db.query_opt(
                    "SELECT search_text FROM messages WHERE id >= $1 AND workspace_id = $2 \
                     AND search_text IS NOT NULL ORDER BY id LIMIT 1",
                    &[id.into(), ws.0.into()],
                )? && let Some(text) = row.opt_text(0)?
                {
                    out.push(text);
                }
            }
            Ok(out)
        })
        .await
}

// Reply-time KPIs (K2): a workspace of its own for the reports benchmark.

/// What the reports benchmark seeded.
#[derive(Debug, Clone)]
pub struct ReportsSeeded {
    pub workspace: WorkspaceId,
    pub accounts: Vec<AccountId>,
    pub days: i64,
    pub conversations: i64,
    pub messages: i64,
    pub turns: i64,
    pub daily_rows: i64,
}

/// Messages per conversation of the reports benchmark.
const REPORT_MESSAGES_PER_CONVERSATION: i64 = 20;

/// Seeds `messages` messages over the last `days` days (ten accounts,
/// `agents` agents): customers, agents' replies, automatic replies and the
/// merchant's own app, mixed by a hash, day and night. The messages are
/// written set-wise; their turns, closed turns and daily rows are then
/// derived from the stored messages with the same pure functions the
/// write path applies (`turns::step`, `turns::daily_effect`), so the
/// counters are exactly what ingest would have kept.
pub async fn seed_reports(
    store: &SqlStore,
    messages: i64,
    days: i64,
    agents: i64,
) -> Result<ReportsSeeded, StoreError> {
    let ws = store.create_workspace("benchmark-reports").await?;
    let channel = store
        .create_channel(
            ws.id,
            Platform::Custom,
            "bench-reports",
            &serde_json::json!({"secret": "benchmark-secret-0000"}),
        )
        .await?;
    let mut accounts: Vec<AccountId> = Vec::new();
    for i in 0..10 {
        accounts.push(
            store
                .create_account(ws.id, channel.id, &format!("r-{i}"), &format!("门店 {i}"))
                .await?
                .id,
        );
    }
    let mut first_agent = 0;
    for i in 0..agents.max(1) {
        let id = store
            .create_user(
                ws.id,
                &format!("agent{i}@bench.test"),
                &format!("客服 {i}"),
                imhub_core::Role::Agent,
                "x",
            )
            .await?
            .id
            .0;
        if i == 0 {
            first_agent = id;
        }
    }
    let agents = agents.max(1);
    let per = REPORT_MESSAGES_PER_CONVERSATION;
    let conversations = (messages / per).max(1);
    let (w, ch, acc0) = (ws.id.0, channel.id.0, accounts[0].0);
    let span = days * 86_400_000;
    let t0 = Timestamp::now().millis() - span;
    store
        .write_raw(move |db: &mut dyn Db| {
            let n = series(db.dialect(), conversations);
            db.execute(
                &format!(
                    "{n}INSERT INTO contacts (workspace_id, channel_id, external_id, nickname) \
                     SELECT {w}, {ch}, 'r' || i, '顾客 ' || i FROM n"
                ),
                &[],
            )?;
            let c0 = db
                .query_one(
                    "SELECT MIN(id) FROM contacts WHERE channel_id = $1",
                    &[ch.into()],
                )?
                .int(0)?;
            // Conversation i starts at an even share of the span; its 20
            // messages come within the next 50 minutes.
            db.execute(
                &format!(
                    "{n}INSERT INTO conversations (workspace_id, channel_id, account_id, platform, \
                       kind, contact_id, peer_external_id, title, status, unread_count, \
                       last_message_preview, last_activity_at, last_inbound_at, created_at) \
                     SELECT {w}, {ch}, {acc0} + (i % 10), 'custom', 'direct', {c0} + i - 1, \
                       'r' || i, '顾客 ' || i, 'open', 0, '在吗', \
                       {t0} + (i - 1) * {step} + 3000000, {t0} + (i - 1) * {step}, \
                       {t0} + (i - 1) * {step} FROM n",
                    step = span / conversations
                ),
                &[],
            )?;
            Ok(())
        })
        .await?;
    for j in 0..per {
        store
            .write_raw(move |db: &mut dyn Db| {
                // h decides the writer: 0–44 customer (always the first
                // message), 45–54 automation, 55–89 an agent, else the
                // merchant's own app. Times strictly increase with j.
                let h = format!("((c.id * 7919 + {j} * 104729) % 100)");
                db.execute(
                    &format!(
                        "INSERT INTO messages (workspace_id, conversation_id, channel_id, \
                           direction, content, status, platform_message_id, created_at, \
                           updated_at, sender_kind, author_id) \
                         SELECT {w}, c.id, {ch}, \
                           CASE WHEN {j} = 0 OR {h} < 45 THEN 'in' ELSE 'out' END, \
                           '{{\"type\":\"text\",\"text\":\"在吗\"}}', 'delivered', \
                           'r' || c.id || '-{j}', \
                           c.created_at + {j} * 150000 + {h} * 1000, c.created_at, \
                           CASE WHEN {j} = 0 OR {h} < 45 THEN NULL WHEN {h} < 55 \
                             THEN 'automation' WHEN {h} < 90 THEN 'agent' ELSE NULL END, \
                           CASE WHEN {j} > 0 AND {h} >= 55 AND {h} < 90 \
                             THEN {first_agent} + (c.id + {j}) % {agents} ELSE NULL END \
                         FROM conversations c WHERE c.channel_id = {ch}"
                    ),
                    &[],
                )?;
                Ok(())
            })
            .await?;
    }
    let (turns, daily_rows) = derive_turns(store, ws.id, ch).await?;
    store
        .write_raw(|db: &mut dyn Db| db.batch("ANALYZE"))
        .await?;
    Ok(ReportsSeeded {
        workspace: ws.id,
        accounts,
        days,
        conversations,
        messages: conversations * per,
        turns,
        daily_rows,
    })
}

/// The reports workspace an earlier run seeded (the newest one), to
/// measure it again without seeding it again; `days` is the span that run
/// was given.
pub async fn find_reports_seeded(
    store: &SqlStore,
    days: i64,
) -> Result<Option<ReportsSeeded>, StoreError> {
    store
        .read_raw(move |db: &mut dyn Db| {
            let Some(row) = db.query_opt(
                "SELECT w.id, c.id FROM workspaces w JOIN channels c ON c.workspace_id = w.id \
                 WHERE w.name = 'benchmark-reports' ORDER BY w.id DESC LIMIT 1",
                &[],
            )?
            else {
                return Ok(None);
            };
            let (ws, channel) = (row.int(0)?, row.int(1)?);
            let accounts = db
                .query(
                    "SELECT id FROM accounts WHERE workspace_id = $1 ORDER BY id",
                    &[ws.into()],
                )?
                .iter()
                .map(|r| r.int(0).map(AccountId))
                .collect::<Result<Vec<_>, _>>()?;
            let count = |db: &mut dyn Db, sql: &str, id: i64| -> Result<i64, StoreError> {
                db.query_one(sql, &[id.into()])?.int(0)
            };
            let conversations = count(
                db,
                "SELECT COUNT(*) FROM conversations WHERE channel_id = $1",
                channel,
            )?;
            let messages = count(
                db,
                "SELECT COUNT(*) FROM messages WHERE channel_id = $1",
                channel,
            )?;
            // Every turn, open or closed, as the seeding counts them: the
            // workspace-wide daily rows.
            let turns = count(
                db,
                "SELECT CAST(COALESCE(SUM(turns), 0) AS BIGINT) FROM kpi_daily WHERE workspace_id = $1 \
                 AND account_id = 0 AND agent_id = 0",
                ws,
            )?;
            let daily_rows = count(
                db,
                "SELECT COUNT(*) FROM kpi_daily WHERE workspace_id = $1",
                ws,
            )?;
            Ok(Some(ReportsSeeded {
                workspace: WorkspaceId(ws),
                accounts,
                days,
                conversations,
                messages,
                turns,
                daily_rows,
            }))
        })
        .await
}

/// Replays the channel's stored messages through the turn functions,
/// conversation by conversation, writing closed turns and open turns as
/// the write path would, then the daily rows; returns (turns, daily rows).
async fn derive_turns(
    store: &SqlStore,
    ws: WorkspaceId,
    channel: i64,
) -> Result<(i64, i64), StoreError> {
    use std::collections::HashMap;

    use imhub_core::turns::{self, TurnState, Writer};

    let settings = store.get_kpi_settings(ws).await?;
    let window = settings.window()?;
    let target = settings.target_ms();
    let (lo, hi) = store
        .read_raw(move |db: &mut dyn Db| {
            let r = db.query_one(
                "SELECT MIN(id), MAX(id) FROM conversations WHERE channel_id = $1",
                &[channel.into()],
            )?;
            Ok((r.opt_int(0)?.unwrap_or(0), r.opt_int(1)?.unwrap_or(-1)))
        })
        .await?;
    let mut daily: HashMap<(i64, i64, i64), turns::DayDelta> = HashMap::new();
    let mut hist: HashMap<(i64, i64, i64), Vec<i64>> = HashMap::new();
    let mut closed_turns = 0;
    let chunk = 5_000;
    let mut start = lo;
    while start <= hi {
        let end = start + chunk - 1;
        let window = window.clone();
        let (effects, closed) = store
            .write_raw(move |db: &mut dyn Db| {
                let rows = db.query(
                    "SELECT m.conversation_id, m.id, m.direction, m.sender_kind, m.created_at, \
                       m.author_id, c.account_id FROM messages m \
                     JOIN conversations c ON c.id = m.conversation_id \
                     WHERE m.conversation_id >= $1 AND m.conversation_id <= $2 \
                     AND m.channel_id = $3 ORDER BY m.conversation_id, m.id",
                    &[start.into(), end.into(), channel.into()],
                )?;
                let mut effects = Vec::new();
                let mut closed_rows: Vec<String> = Vec::new();
                let mut state = TurnState::default();
                let mut current = -1;
                let mut account = 0;
                let flush = |db: &mut dyn Db, conv: i64, state: TurnState| {
                    if state.open_since.is_some() {
                        db.execute(
                            "UPDATE conversations SET turn_open_since = $1, turn_auto_at = $2 \
                             WHERE id = $3",
                            &[
                                state.open_since.map(|t| t.millis()).into(),
                                state.auto_replied_at.map(|t| t.millis()).into(),
                                conv.into(),
                            ],
                        )?;
                    }
                    Ok::<(), StoreError>(())
                };
                for r in &rows {
                    let conv = r.int(0)?;
                    if conv != current {
                        if current >= 0 {
                            flush(db, current, state)?;
                        }
                        current = conv;
                        state = TurnState::default();
                        account = r.int(6)?;
                    }
                    let writer = match (r.text(2)?.as_str(), r.opt_text(3)?.as_deref()) {
                        ("in", _) => Writer::Customer,
                        (_, Some("automation")) => Writer::Automation,
                        _ => Writer::Human,
                    };
                    let agent = r.opt_int(5)?;
                    let at = Timestamp(r.int(4)?);
                    let before = state;
                    let step = turns::step(before, writer, at, &window, target);
                    state = step.state;
                    let Some(effect) = turns::daily_effect(before, &step, agent.is_some(), &window)
                    else {
                        continue;
                    };
                    if let Some(c) = step.closed {
                        closed_rows.push(format!(
                            "({}, {conv}, {account}, {}, {}, {}, {}, {}, {}, {}, {})",
                            ws.0,
                            agent.map_or("NULL".to_string(), |a| a.to_string()),
                            r.int(1)?,
                            effect.day,
                            c.started_at.millis(),
                            c.answered_at.millis(),
                            c.wait_ms,
                            i64::from(c.within_target),
                            c.auto_wait_ms.map_or("NULL".to_string(), |a| a.to_string()),
                        ));
                    }
                    effects.push((account, agent, effect));
                }
                if current >= 0 {
                    flush(db, current, state)?;
                }
                for batch in closed_rows.chunks(500) {
                    db.execute(
                        &format!(
                            "INSERT INTO turns (workspace_id, conversation_id, account_id, \
                               agent_id, message_id, day, started_at, answered_at, wait_ms, \
                               within_target, auto_wait_ms) VALUES {}",
                            batch.join(", ")
                        ),
                        &[],
                    )?;
                }
                Ok((effects, closed_rows.len() as i64))
            })
            .await?;
        closed_turns += closed;
        for (account, agent, effect) in effects {
            let mut add = |key: (i64, i64, i64), d: &turns::DayDelta| {
                let row = daily.entry(key).or_default();
                row.turns += d.turns;
                row.answered += d.answered;
                row.within_target += d.within_target;
                row.unanswered += d.unanswered;
                row.auto_only += d.auto_only;
                if let Some(b) = d.bucket {
                    hist.entry(key).or_insert_with(|| vec![0; turns::BUCKETS])[b] += 1;
                }
            };
            // The same four rows the write path keeps (see crate::turns).
            add((effect.day, account, 0), &effect.account);
            add((effect.day, 0, 0), &effect.account);
            if let (Some(a), Some(d)) = (agent, effect.agent.as_ref()) {
                add((effect.day, account, a), d);
                add((effect.day, 0, a), d);
            }
        }
        start = end + 1;
    }
    let total_turns: i64 = daily
        .iter()
        .filter(|((_, account, agent), _)| *account == 0 && *agent == 0)
        .map(|(_, d)| d.turns)
        .sum();
    tracing::debug!(total_turns, closed_turns, "reports benchmark turns derived");
    let rows: Vec<String> = daily
        .iter()
        .map(|(&(day, account, agent), d)| {
            let h = hist.get(&(day, account, agent));
            let buckets: Vec<String> = (0..turns::BUCKETS)
                .map(|b| h.map_or(0, |h| h[b]).to_string())
                .collect();
            format!(
                "({}, {day}, {account}, {agent}, {}, {}, {}, {}, {}, {})",
                ws.0,
                d.turns,
                d.answered,
                d.within_target,
                d.unanswered,
                d.auto_only,
                buckets.join(", ")
            )
        })
        .collect();
    let daily_rows = rows.len() as i64;
    let columns: Vec<String> = (0..turns::BUCKETS).map(|b| format!("b{b}")).collect();
    let columns = columns.join(", ");
    store
        .write_raw(move |db: &mut dyn Db| {
            for batch in rows.chunks(500) {
                db.execute(
                    &format!(
                        "INSERT INTO kpi_daily (workspace_id, day, account_id, agent_id, turns, \
                           answered, within_target, unanswered, auto_only, {columns}) VALUES {}",
                        batch.join(", ")
                    ),
                    &[],
                )?;
            }
            Ok(())
        })
        .await?;
    Ok((total_turns, daily_rows))
}
