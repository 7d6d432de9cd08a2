//! Full-text search of message text across a workspace, with substring
//! semantics (no word segmentation, so Chinese works like English).
//!
//! The text a message is found by is `messages.search_text`: ingest writes
//! it with the row (`Content::search_text`), and for every other writer
//! the database fills it from the message's JSON content by the same rule
//! (the `0010_search` migrations, then SQLite's 0019 and PostgreSQL's
//! 0021 triggers). SQLite indexes it in an FTS5 table with
//! the trigram tokenizer, PostgreSQL with a `pg_trgm` GIN index. Activity
//! lines have no search text; notes are indexed and returned only when the
//! caller asks for internal entries.
//!
//! How a page is found, newest first by `(created_at, id)`, depends on
//! the query:
//!
//! - Three characters or more, across the workspace, on SQLite: the
//!   newest [`FIRST_WINDOW`] messages below the cursor are scanned with a
//!   `LIKE` (a common term fills its page there); then FTS5 counts the
//!   term's matches (all workspaces, up to [`COMMON_MATCHES`] + 1, reading
//!   no row), and the older matches are found by how common it is:
//!   - a selective term (at most [`SELECTIVE_MATCHES`]) takes every match
//!     from the index, which keeps each one's workspace, conversation,
//!     time and note flag, and picks the newest there;
//!   - a term in between walks the workspace's time index newest first and
//!     keeps the messages the index matched, stopping once the page is
//!     full (on average `page × messages / matches` index entries);
//!   - a common term scans the newest [`SCAN_WINDOW`] messages with a
//!     `LIKE` (it fills a page there), and walks on like the term in
//!     between when that window did not hold a page.
//! - Three characters or more, across the workspace, on PostgreSQL (whose
//!   GIN index cannot count a term's matches without reading each one's
//!   row): the newest [`FIRST_WINDOW`] messages below the cursor are
//!   scanned with a `LIKE`, then the index is asked hour range by hour
//!   range (its second column keys each message by its workspace and by
//!   blocks of 1, 16, 256 and 4,096 hours, migration 0020), each range
//!   four times as long as the last; only the matches in those hours are
//!   read from the heap.
//! - One or two characters, and searches inside one conversation: the
//!   newest [`SCAN_WINDOW`] messages below the cursor are scanned in time
//!   order with a `LIKE`, stopping early once the page is full. When the
//!   window holds fewer matches than a page, the trigram index finds the
//!   older ones; it needs three characters, so a query of one or two
//!   characters stops after the window instead: that page is `partial`,
//!   and its cursor goes on from where the scan stopped (each further page
//!   scans the next window of older messages).

use std::collections::HashMap;

use imhub_core::{
    AccountId, ConversationId, Direction, MessageId, Platform, Timestamp, WorkspaceId,
};

use crate::{
    MessageCursor, StoreError,
    db::{Db, Dialect, Value},
};

/// Longest query, in characters (422 `query_too_long` above it).
pub const MAX_QUERY_CHARS: usize = 100;

/// Shortest query the trigram index serves, in characters; shorter ones
/// take the bounded scan only.
pub const MIN_INDEXED_CHARS: usize = 3;

/// How many of the newest messages (of the workspace, or of the
/// conversation) one page scans before it turns to the index, and the
/// bound of the scan for queries of one or two characters.
pub const SCAN_WINDOW: i64 = 10_000;

/// Matches (in all workspaces) up to which a term of three characters or
/// more is read from the trigram index alone.
pub const SELECTIVE_MATCHES: i64 = 3_000;

/// Matches (in all workspaces) above which a term counts as common: its
/// page is looked for in the newest [`SCAN_WINDOW`] messages first.
pub const COMMON_MATCHES: i64 = 30_000;

/// How many of the newest messages a query of three characters or more
/// scans with a `LIKE` before it asks the trigram index (SQLite).
pub const FIRST_WINDOW: i64 = 1_000;

/// Milliseconds in an hour: the unit of 0020's index keys.
const HOUR_MS: i64 = 3_600_000;

/// Levels of 0020's hour keys: blocks of 1, 16, 256 and 4,096 hours.
const HOUR_LEVELS: i64 = 4;

/// How many blocks of one level make a block of the next.
const LEVEL_BASE: i64 = 16;

/// The hour keys of a message in 0020's index, the expression the index
/// was built on (PostgreSQL matches it by its text): for each level, the
/// workspace (2^24 keys each), the level (2^22 keys each, hours to the
/// year 2448) and the block of the message's time.
pub const HOUR_KEYS_SQL: &str = "(ARRAY[workspace_id * 16777216 + created_at / 3600000, \
     workspace_id * 16777216 + 4194304 + created_at / 57600000, \
     workspace_id * 16777216 + 8388608 + created_at / 921600000, \
     workspace_id * 16777216 + 12582912 + created_at / 14745600000])";

/// Hours of the first range asked after the window (PostgreSQL); each
/// next range is four times as long.
pub const FIRST_HOURS: i64 = 1;

/// Largest page of results.
pub const MAX_PAGE: u32 = 100;

/// Characters of context the snippet shows on each side of the first match.
const SNIPPET_CONTEXT: usize = 24;

/// What to search for, and where.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// The text to find (trimmed; 1 to [`MAX_QUERY_CHARS`] characters).
    pub text: String,
    pub account_id: Option<AccountId>,
    pub platform: Option<Platform>,
    /// Search inside this conversation only.
    pub conversation_id: Option<ConversationId>,
    /// Messages created at or after this time.
    pub from: Option<Timestamp>,
    /// Messages created before this time.
    pub to: Option<Timestamp>,
    /// Include notes (agents' private entries); never for integrations.
    pub internal: bool,
    /// Older than this: the previous page's `next`.
    pub before: Option<MessageCursor>,
    /// 1 to [`MAX_PAGE`].
    pub limit: u32,
}

/// One message found, with what the result list shows of its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub conversation_title: String,
    pub account_id: AccountId,
    pub platform: Platform,
    pub direction: Direction,
    pub created_at: Timestamp,
    /// The text around the first match, HTML-escaped, every match within
    /// it wrapped in `<mark>`…`</mark>`.
    pub snippet: String,
}

/// A page of results, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// Where the next page starts, if there may be one.
    pub next: Option<MessageCursor>,
    /// A short query's scan stopped at its bound ([`SCAN_WINDOW`]) before
    /// reaching the oldest message: older matches may exist, and `next`
    /// goes on searching from there.
    pub partial: bool,
}

/// The query's text, trimmed, or the refusal the API answers with.
pub fn normalize_query(text: &str) -> Result<String, StoreError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(StoreError::Refused {
            code: "query_too_short",
            detail: "the search text is empty".into(),
        });
    }
    let chars = text.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(StoreError::Refused {
            code: "query_too_long",
            detail: format!("the search text has {chars} characters; at most {MAX_QUERY_CHARS}"),
        });
    }
    Ok(text.to_string())
}

/// A keyset position `(created_at, id)`; pages run from high to low.
type Key = (i64, i64);

/// A message row found by a step, before its conversation is attached.
struct Found {
    id: i64,
    conversation_id: i64,
    direction: String,
    created_at: i64,
    text: String,
}

/// The columns every step selects, in [`Found`]'s order.
const FOUND_COLUMNS: &str = "m.id, m.conversation_id, m.direction, m.created_at, m.search_text";

fn found(row: &crate::db::Row) -> Result<Found, StoreError> {
    Ok(Found {
        id: row.int(0)?,
        conversation_id: row.int(1)?,
        direction: row.text(2)?,
        created_at: row.int(3)?,
        text: row.opt_text(4)?.unwrap_or_default(),
    })
}

/// Builds a statement's `WHERE` clause and parameters as it goes.
struct Filter {
    sql: String,
    params: Vec<Value>,
}

impl Filter {
    fn new() -> Self {
        Filter {
            sql: String::new(),
            params: Vec::new(),
        }
    }

    fn param(&mut self, v: impl Into<Value>) -> String {
        self.params.push(v.into());
        format!("${}", self.params.len())
    }

    fn and(&mut self, clause: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(clause);
    }

    /// Rows of the workspace (and conversation) between `floor`
    /// (inclusive, when given) or `from`, and `upper` (exclusive).
    fn range(&mut self, ws: WorkspaceId, q: &SearchQuery, upper: Key, floor: Option<Key>) {
        let w = self.param(ws.0);
        self.sql.push_str(&format!("m.workspace_id = {w}"));
        self.keys(q, upper, floor);
    }

    /// [`Filter::range`] without the workspace: only where the
    /// conversation, already checked to be the workspace's, scopes the rows
    /// (so its index alone answers, without reading each row).
    fn conversation_range(&mut self, q: &SearchQuery, upper: Key, floor: Option<Key>) {
        self.sql.push_str("1 = 1");
        self.keys(q, upper, floor);
    }

    fn keys(&mut self, q: &SearchQuery, upper: Key, floor: Option<Key>) {
        if let Some(c) = q.conversation_id {
            let c = self.param(c.0);
            self.and(&format!("m.conversation_id = {c}"));
        }
        // The plain bound on created_at lets both databases start the index
        // range at the cursor; the pair decides ties.
        let (ua, ub) = (self.param(upper.0), self.param(upper.1));
        self.and(&format!(
            "m.created_at <= {ua} AND (m.created_at < {ua} OR m.id < {ub})"
        ));
        match floor {
            Some(floor) => {
                let (fa, fb) = (self.param(floor.0), self.param(floor.1));
                self.and(&format!(
                    "m.created_at >= {fa} AND (m.created_at > {fa} OR m.id >= {fb})"
                ));
            }
            None => {
                if let Some(from) = q.from {
                    let f = self.param(from.millis());
                    self.and(&format!("m.created_at >= {f}"));
                }
            }
        }
    }

    /// Who may see the row, and the conversation's account and platform.
    fn visible(&mut self, q: &SearchQuery) {
        self.and("m.search_text IS NOT NULL");
        if !q.internal {
            self.and("m.direction <> 'note'");
        }
        if q.account_id.is_some() || q.platform.is_some() {
            let mut exists =
                "EXISTS (SELECT 1 FROM conversations c WHERE c.id = m.conversation_id".to_string();
            if let Some(a) = q.account_id {
                exists.push_str(&format!(" AND c.account_id = {}", self.param(a.0)));
            }
            if let Some(p) = q.platform {
                exists.push_str(&format!(" AND c.platform = {}", self.param(p.as_str())));
            }
            exists.push(')');
            self.and(&exists);
        }
    }
}

/// `%text%` with `LIKE`'s metacharacters taken literally (escape `\`).
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// An FTS5 phrase: the text in double quotes, its own quotes doubled.
fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The case-insensitive `LIKE` of each dialect.
fn ilike(dialect: Dialect) -> &'static str {
    match dialect {
        // SQLite's LIKE ignores the case of ASCII letters.
        Dialect::Sqlite => "LIKE",
        Dialect::Postgres => "ILIKE",
    }
}

/// One page of results; see the module documentation for the steps.
pub(crate) fn search(
    db: &mut dyn Db,
    ws: WorkspaceId,
    q: &SearchQuery,
) -> Result<SearchPage, StoreError> {
    let text = normalize_query(&q.text)?;
    let limit = q.limit.clamp(1, MAX_PAGE) as usize;
    if let Some(c) = q.conversation_id {
        // Another workspace's conversation is a 404, not an empty page.
        db.query_one(
            "SELECT id FROM conversations WHERE id = $1 AND workspace_id = $2",
            &[c.0.into(), ws.0.into()],
        )?;
    }
    let mut upper: Key = (i64::MAX, i64::MAX);
    if let Some(cursor) = q.before {
        upper = upper.min((cursor.created_at, cursor.id));
    }
    if let Some(to) = q.to {
        upper = upper.min((to.millis(), i64::MIN));
    }
    if text.chars().count() >= MIN_INDEXED_CHARS && q.conversation_id.is_none() {
        let mut rows = index_first(db, ws, q, &text, upper, limit + 1)?;
        let mut next = None;
        if rows.len() > limit {
            rows.truncate(limit);
            next = rows.last().map(|r| MessageCursor {
                created_at: r.created_at,
                id: r.id,
            });
        }
        return Ok(SearchPage {
            hits: attach_conversations(db, ws, rows, &text)?,
            next,
            partial: false,
        });
    }
    let floor = window_floor(db, ws, q, upper, SCAN_WINDOW)?;
    let mut rows = scan_window(db, ws, q, &text, upper, floor, limit + 1)?;
    let mut partial = false;
    let mut next = None;
    if rows.len() > limit {
        rows.truncate(limit);
        next = rows.last().map(|r| (r.created_at, r.id));
    } else if let Some(floor) = floor {
        if text.chars().count() < MIN_INDEXED_CHARS {
            partial = true;
            next = Some(floor);
        } else {
            let want = limit + 1 - rows.len();
            let mut older = indexed(db, ws, q, &text, floor, want)?;
            if rows.len() + older.len() > limit {
                older.truncate(limit - rows.len());
                rows.extend(older);
                next = rows.last().map(|r| (r.created_at, r.id));
            } else {
                rows.extend(older);
            }
        }
    }
    Ok(SearchPage {
        hits: attach_conversations(db, ws, rows, &text)?,
        next: next.map(|(created_at, id)| MessageCursor { created_at, id }),
        partial,
    })
}

/// A page of three characters or more across the workspace: the newest
/// [`FIRST_WINDOW`] messages, then on PostgreSQL the index hours at a time
/// and on SQLite by how common the term is (see the module
/// documentation): at most `want` matches below `upper`, newest first.
fn index_first(
    db: &mut dyn Db,
    ws: WorkspaceId,
    q: &SearchQuery,
    text: &str,
    upper: Key,
    want: usize,
) -> Result<Vec<Found>, StoreError> {
    // The newest few messages first: a common term (or phrase) fills its
    // page there at once, before the index is asked anything.
    let first = window_floor(db, ws, q, upper, FIRST_WINDOW)?;
    let mut rows = scan_window(db, ws, q, text, upper, first, want)?;
    let Some(upper) = first else {
        return Ok(rows);
    };
    if rows.len() >= want {
        return Ok(rows);
    }
    let want = want - rows.len();
    if db.dialect() == Dialect::Postgres {
        rows.extend(walk_hours(db, ws, q, text, upper, want)?);
        return Ok(rows);
    }
    let matches = count_matches(db, text, COMMON_MATCHES + 1)?;
    if matches <= SELECTIVE_MATCHES {
        rows.extend(indexed(db, ws, q, text, upper, want)?);
    } else if matches <= COMMON_MATCHES {
        rows.extend(walk_matches(db, ws, q, text, upper, want)?);
    } else {
        let floor = window_floor(db, ws, q, upper, SCAN_WINDOW)?;
        let window = scan_window(db, ws, q, text, upper, floor, want)?;
        let want = want - window.len();
        rows.extend(window);
        if want > 0
            && let Some(floor) = floor
        {
            rows.extend(walk_matches(db, ws, q, text, floor, want)?);
        }
    }
    Ok(rows)
}

/// Matches below `floor`, newest first, at most `want`, through 0020's
/// index, hours at a time: the hour of `floor` first, then ranges four
/// times as long as the last ([`FIRST_HOURS`], ×4…), each asked as the
/// fewest blocks of the index's levels that cover it, until the page is
/// full or the workspace's (or the date filter's) oldest message is
/// passed. A range reads only its own matches from the heap.
fn walk_hours(
    db: &mut dyn Db,
    ws: WorkspaceId,
    q: &SearchQuery,
    text: &str,
    floor: Key,
    want: usize,
) -> Result<Vec<Found>, StoreError> {
    let oldest = match q.from {
        Some(from) => from.millis(),
        None => {
            let mut f = Filter::new();
            f.range(ws, q, floor, None);
            match db.query_opt(
                &format!(
                    "SELECT m.created_at FROM messages m WHERE {} \
                     ORDER BY m.created_at ASC, m.id ASC LIMIT 1",
                    f.sql
                ),
                &f.params,
            )? {
                Some(row) => row.int(0)?,
                None => return Ok(Vec::new()),
            }
        }
    };
    let mut rows = Vec::new();
    let mut upper = floor;
    let mut hours = FIRST_HOURS;
    while rows.len() < want {
        if upper.0 <= 0 {
            // Before 1970 the index has no hours: the trigrams alone.
            rows.extend(indexed_postgres(
                db,
                ws,
                q,
                text,
                upper,
                None,
                want - rows.len(),
            )?);
            break;
        }
        let last = upper.0 / HOUR_MS;
        let first = last.saturating_sub(hours - 1).max(oldest.max(0) / HOUR_MS);
        let low = first * HOUR_MS;
        let keys = hour_blocks(ws, first, last);
        rows.extend(indexed_postgres(
            db,
            ws,
            q,
            text,
            upper,
            Some((&keys, (low, i64::MIN))),
            want - rows.len(),
        )?);
        if low <= oldest {
            break;
        }
        upper = (low, i64::MIN);
        hours = hours.saturating_mul(4);
    }
    Ok(rows)
}

/// The keys of 0020's index that cover hours `first..=last` (since 1970,
/// `first` ≥ 0) with the fewest blocks: each level's blocks are
/// [`LEVEL_BASE`] times as long as the level below's, aligned to their
/// length, the largest that fits taken first, from the newest end.
fn hour_blocks(ws: WorkspaceId, first: i64, last: i64) -> Vec<i64> {
    let mut keys = Vec::new();
    let mut end = last.saturating_add(1);
    while end > first {
        let (mut level, mut size) = (0, 1);
        while level + 1 < HOUR_LEVELS
            && end % (size * LEVEL_BASE) == 0
            && end - size * LEVEL_BASE >= first
        {
            level += 1;
            size *= LEVEL_BASE;
        }
        keys.push(block_key(ws, level, (end - size) / size));
        end -= size;
    }
    keys
}

/// The key of one block: the workspace's range of keys, the level's part
/// of it, and the block's number (its first hour over its length), as
/// [`HOUR_KEYS_SQL`] computes them for each message.
fn block_key(ws: WorkspaceId, level: i64, block: i64) -> i64 {
    ws.0.saturating_mul(1 << 24)
        .saturating_add(level << 22)
        .saturating_add(block)
}

/// How many messages (of every workspace) FTS5 matches, counted up to
/// `cap`: the index alone, no row read.
fn count_matches(db: &mut dyn Db, text: &str, cap: i64) -> Result<i64, StoreError> {
    db.query_one(
        "SELECT COUNT(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH $1 LIMIT $2)",
        &[fts_phrase(text).into(), cap.into()],
    )?
    .int(0)
}

/// The workspace's messages below `upper` that FTS5 matches, newest
/// first, at most `want`: a walk of the time index that stops once the
/// page is full, each entry checked against the set of FTS5's matches
/// (built once per statement).
fn walk_matches(
    db: &mut dyn Db,
    ws: WorkspaceId,
    q: &SearchQuery,
    text: &str,
    upper: Key,
    want: usize,
) -> Result<Vec<Found>, StoreError> {
    let mut f = Filter::new();
    f.range(ws, q, upper, None);
    // The membership test comes first and needs only the time index's
    // entry (`+` keeps the rowid from driving the plan); a row is read only
    // for the index's matches.
    let phrase = f.param(fts_phrase(text));
    f.and(&format!(
        "+m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH {phrase})"
    ));
    f.visible(q);
    let limit = f.param(want as i64);
    let sql = format!(
        "SELECT {FOUND_COLUMNS} FROM messages m WHERE {} \
         ORDER BY m.created_at DESC, m.id DESC LIMIT {limit}",
        f.sql
    );
    let rows = db
        .query(&sql, &f.params)?
        .iter()
        .map(found)
        .collect::<Result<_, _>>()?;
    with_queued(db, ws, q, text, upper, want, rows)
}

/// SQLite's matches among the messages still queued for FTS5 (at most
/// [`crate::engine::batch::SEARCH_INDEX_EVERY_MS`] of writes: the writer
/// indexes the queue that often while busy) below `upper`, merged with
/// what the index found there, newest first, at most `want`. The queue's
/// rows are never in the index, so nothing is found twice.
fn with_queued(
    db: &mut dyn Db,
    ws: WorkspaceId,
    q: &SearchQuery,
    text: &str,
    upper: Key,
    want: usize,
    mut rows: Vec<Found>,
) -> Result<Vec<Found>, StoreError> {
    let mut f = Filter::new();
    f.range(ws, q, upper, None);
    f.visible(q);
    let pattern = f.param(like_pattern(text));
    f.and(&format!("m.search_text LIKE {pattern} ESCAPE '\\'"));
    let limit = f.param(want as i64);
    // CROSS JOIN keeps the small queue the outer loop.
    let sql = format!(
        "SELECT {FOUND_COLUMNS} FROM messages_fts_queue fq CROSS JOIN messages m \
         ON m.id = fq.id WHERE {} ORDER BY m.created_at DESC, m.id DESC LIMIT {limit}",
        f.sql
    );
    let queued = db.query(&sql, &f.params)?;
    if queued.is_empty() {
        return Ok(rows);
    }
    for row in &queued {
        rows.push(found(row)?);
    }
    rows.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
    rows.truncate(want);
    Ok(rows)
}

/// The oldest key of the newest `size` messages below `upper`, or `None`
/// when there are no more than that down to `from`: the window then holds
/// every candidate.
fn window_floor(
    db: &mut dyn Db,
    ws: WorkspaceId,
    q: &SearchQuery,
    upper: Key,
    size: i64,
) -> Result<Option<Key>, StoreError> {
    let mut f = Filter::new();
    if q.conversation_id.is_some() {
        f.conversation_range(q, upper, None);
    } else {
        f.range(ws, q, upper, None);
    }
    let offset = f.param(size - 1);
    let sql = format!(
        "SELECT m.created_at, m.id FROM messages m WHERE {} \
         ORDER BY m.created_at DESC, m.id DESC LIMIT 1 OFFSET {offset}",
        f.sql
    );
    match db.query_opt(&sql, &f.params)? {
        Some(row) => Ok(Some((row.int(0)?, row.int(1)?))),
        None => Ok(None),
    }
}

/// Step 1: the window's matches, newest first, at most `want`.
fn scan_window(
    db: &mut dyn Db,
    ws: WorkspaceId,
    q: &SearchQuery,
    text: &str,
    upper: Key,
    floor: Option<Key>,
    want: usize,
) -> Result<Vec<Found>, StoreError> {
    let mut f = Filter::new();
    f.range(ws, q, upper, floor);
    f.visible(q);
    let pattern = f.param(like_pattern(text));
    // `|| ''` keeps PostgreSQL's generic plan (prepared statements) off the
    // GIN index here: a trigram index scan of a frequent or short pattern
    // reads the whole index, while this walk stops after a page.
    f.and(&format!(
        "(m.search_text || '') {} {pattern} ESCAPE '\\'",
        ilike(db.dialect())
    ));
    let limit = f.param(want as i64);
    let sql = format!(
        "SELECT {FOUND_COLUMNS} FROM messages m WHERE {} \
         ORDER BY m.created_at DESC, m.id DESC LIMIT {limit}",
        f.sql
    );
    db.query(&sql, &f.params)?.iter().map(found).collect()
}

/// Step 2: matches older than the window, through the trigram index.
fn indexed(
    db: &mut dyn Db,
    ws: WorkspaceId,
    q: &SearchQuery,
    text: &str,
    floor: Key,
    want: usize,
) -> Result<Vec<Found>, StoreError> {
    match db.dialect() {
        Dialect::Sqlite => indexed_sqlite(db, ws, q, text, floor, want),
        Dialect::Postgres => indexed_postgres(db, ws, q, text, floor, None, want),
    }
}

/// Step 2 on SQLite: the FTS table keeps each match's workspace,
/// conversation, time and note flag, so the matches are filtered and the
/// newest picked from the index alone; only the page's rows are read.
fn indexed_sqlite(
    db: &mut dyn Db,
    ws: WorkspaceId,
    q: &SearchQuery,
    text: &str,
    floor: Key,
    want: usize,
) -> Result<Vec<Found>, StoreError> {
    let mut f = Filter::new();
    let phrase = f.param(fts_phrase(text));
    let w = f.param(ws.0);
    let (fa, fb) = (f.param(floor.0), f.param(floor.1));
    let mut sql = format!(
        "SELECT rowid AS id FROM messages_fts WHERE messages_fts MATCH {phrase} \
         AND workspace_id = {w} AND created_at <= {fa} AND (created_at < {fa} OR rowid < {fb})"
    );
    if let Some(c) = q.conversation_id {
        sql.push_str(&format!(" AND conversation_id = {}", f.param(c.0)));
    }
    if let Some(from) = q.from {
        sql.push_str(&format!(" AND created_at >= {}", f.param(from.millis())));
    }
    if !q.internal {
        sql.push_str(" AND note = 0");
    }
    if q.account_id.is_some() || q.platform.is_some() {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = messages_fts.conversation_id",
        );
        if let Some(a) = q.account_id {
            sql.push_str(&format!(" AND c.account_id = {}", f.param(a.0)));
        }
        if let Some(p) = q.platform {
            sql.push_str(&format!(" AND c.platform = {}", f.param(p.as_str())));
        }
        sql.push(')');
    }
    let limit = f.param(want as i64);
    let sql = format!(
        "SELECT {FOUND_COLUMNS} FROM ({sql} ORDER BY created_at DESC, rowid DESC LIMIT {limit}) s \
         JOIN messages m ON m.id = s.id WHERE m.workspace_id = {w} \
         ORDER BY m.created_at DESC, m.id DESC"
    );
    let rows = db
        .query(&sql, &f.params)?
        .iter()
        .map(found)
        .collect::<Result<_, _>>()?;
    with_queued(db, ws, q, text, floor, want, rows)
}

/// Step 2 on PostgreSQL, and each range of [`walk_hours`]: the GIN
/// index's matches below `upper`, newest first, at most `want`. With
/// `hours` (0020's block keys, and the range's inclusive floor), one index
/// scan ANDs the term's trigrams with those blocks and only their matches
/// are read from the heap; without, every match of the term is.
fn indexed_postgres(
    db: &mut dyn Db,
    ws: WorkspaceId,
    q: &SearchQuery,
    text: &str,
    upper: Key,
    hours: Option<(&[i64], Key)>,
    want: usize,
) -> Result<Vec<Found>, StoreError> {
    let mut f = Filter::new();
    // Materialized, so the planner reads the GIN index for the matches
    // instead of walking the time index for a rare term; `+ 0` keeps the
    // generic plan from ANDing the GIN bitmap with the whole workspace's.
    let pattern = f.param(like_pattern(text));
    let w = f.param(ws.0);
    let below = f.param(upper.0);
    let mut within = String::new();
    if let Some((keys, floor)) = hours {
        let list: Vec<String> = keys.iter().map(i64::to_string).collect();
        // One text parameter, so each statement is prepared once.
        let blocks = f.param(list.join(","));
        let from = f.param(floor.0);
        within = format!(
            " AND {HOUR_KEYS_SQL} && string_to_array({blocks}, ',')::BIGINT[] \
             AND created_at + 0 >= {from}"
        );
    }
    f.sql.push_str(&format!(
        "WITH m AS MATERIALIZED (SELECT id, conversation_id, direction, created_at, \
           search_text, workspace_id FROM messages \
         WHERE search_text ILIKE {pattern} ESCAPE '\\' AND workspace_id + 0 = {w} \
         AND created_at + 0 <= {below}{within}) \
         SELECT {FOUND_COLUMNS} FROM m WHERE "
    ));
    let mut rest = Filter {
        sql: String::new(),
        params: std::mem::take(&mut f.params),
    };
    rest.range(ws, q, upper, hours.map(|(_, floor)| floor));
    rest.visible(q);
    let limit = rest.param(want as i64);
    let sql = format!(
        "{}{} ORDER BY m.created_at DESC, m.id DESC LIMIT {limit}",
        f.sql, rest.sql
    );
    db.query(&sql, &rest.params)?.iter().map(found).collect()
}

/// Adds each hit's conversation (title, account, platform) and snippet.
fn attach_conversations(
    db: &mut dyn Db,
    ws: WorkspaceId,
    rows: Vec<Found>,
    text: &str,
) -> Result<Vec<SearchHit>, StoreError> {
    let mut ids: Vec<i64> = rows.iter().map(|r| r.conversation_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut conversations: HashMap<i64, (String, AccountId, Platform)> = HashMap::new();
    for chunk in ids.chunks(100) {
        let mut f = Filter::new();
        let w = f.param(ws.0);
        let list: Vec<String> = chunk.iter().map(|id| f.param(*id)).collect();
        let sql = format!(
            "SELECT id, title, account_id, platform FROM conversations \
             WHERE workspace_id = {w} AND id IN ({})",
            list.join(", ")
        );
        for row in db.query(&sql, &f.params)? {
            conversations.insert(
                row.int(0)?,
                (
                    row.opt_text(1)?
                        .unwrap_or_else(|| imhub_core::model::ANONYMOUS_NICKNAME.to_string()),
                    AccountId(row.int(2)?),
                    crate::rows::platform(&row.text(3)?)?,
                ),
            );
        }
    }
    let mut hits = Vec::with_capacity(rows.len());
    for r in rows {
        // The workspace was checked on the message; a missing conversation
        // would be a broken row, not a result.
        let Some((title, account_id, platform)) = conversations.get(&r.conversation_id) else {
            continue;
        };
        let direction = Direction::parse(&r.direction).ok_or_else(|| {
            StoreError::Database(format!("unknown direction {:?} in database", r.direction))
        })?;
        hits.push(SearchHit {
            message_id: MessageId(r.id),
            conversation_id: ConversationId(r.conversation_id),
            conversation_title: title.clone(),
            account_id: *account_id,
            platform: *platform,
            direction,
            created_at: Timestamp(r.created_at),
            snippet: snippet(&r.text, text),
        });
    }
    Ok(hits)
}

/// A character compared without case: its first lowercase form.
fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Where `needle` occurs in `hay`, as char index ranges, left to right and
/// not overlapping, ignoring case.
fn matches(hay: &[char], needle: &[char]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if needle.is_empty() || needle.len() > hay.len() {
        return out;
    }
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let hit = hay[i..i + needle.len()]
            .iter()
            .zip(needle)
            .all(|(a, b)| fold(*a) == fold(*b));
        if hit {
            out.push((i, i + needle.len()));
            i += needle.len();
        } else {
            i += 1;
        }
    }
    out
}

fn escape_into(out: &mut String, chars: &[char]) {
    for c in chars {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(*c),
        }
    }
}

/// The text around the first match of `query` in `text`: HTML-escaped,
/// with every match in view wrapped in `<mark>`, and `…` where text was
/// cut. Safe to put into HTML as it is.
pub fn snippet(text: &str, query: &str) -> String {
    let hay: Vec<char> = text.chars().collect();
    let needle: Vec<char> = query.chars().collect();
    let found = matches(&hay, &needle);
    let (start, end) = match found.first() {
        Some(&(s, e)) => (
            s.saturating_sub(SNIPPET_CONTEXT),
            (e + SNIPPET_CONTEXT).min(hay.len()),
        ),
        None => (0, hay.len().min(2 * SNIPPET_CONTEXT)),
    };
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut at = start;
    for &(s, e) in found.iter().filter(|(s, e)| *s >= start && *e <= end) {
        escape_into(&mut out, &hay[at..s]);
        out.push_str("<mark>");
        escape_into(&mut out, &hay[s..e]);
        out.push_str("</mark>");
        at = e;
    }
    escape_into(&mut out, &hay[at..end]);
    if end < hay.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_trimmed_and_bounded() {
        assert_eq!(normalize_query("  退款 ").unwrap(), "退款");
        let code = |r: Result<String, StoreError>| match r {
            Err(StoreError::Refused { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(normalize_query(" \u{3000} ")), "query_too_short");
        assert_eq!(code(normalize_query(&"退".repeat(101))), "query_too_long");
        assert!(normalize_query(&"退".repeat(100)).is_ok());
    }

    #[test]
    fn hour_blocks_cover_each_hour_once_with_the_fewest_keys() {
        let ws = WorkspaceId(3);
        let covered = |first: i64, last: i64| {
            let mut hours = Vec::new();
            for key in hour_blocks(ws, first, last) {
                let key = key - (3 << 24);
                let (level, block) = (key >> 22, key & ((1 << 22) - 1));
                let size = LEVEL_BASE.pow(level as u32);
                hours.extend(block * size..(block + 1) * size);
            }
            hours.sort_unstable();
            hours
        };
        for (first, last) in [
            (0, 0),
            (5, 5),
            (0, 15),
            (15, 16),
            (1, 300),
            (4095, 8193),
            (7, 70_000),
        ] {
            assert_eq!(
                covered(first, last),
                (first..=last).collect::<Vec<_>>(),
                "{first}..={last}"
            );
        }
        // Aligned blocks are one key each.
        assert_eq!(hour_blocks(ws, 0, 4095).len(), 1);
        assert_eq!(hour_blocks(ws, 256, 511).len(), 1);
        assert_eq!(hour_blocks(ws, 16, 31), vec![(3 << 24) + (1 << 22) + 1]);
        // 36 unaligned hours: 8 hours, one block of 16, and 12 hours.
        assert_eq!(hour_blocks(ws, 100, 135).len(), 21);
        // Workspaces never share a key.
        assert!(
            hour_blocks(WorkspaceId(4), 0, 100)
                .iter()
                .all(|k| !hour_blocks(ws, 0, 100).contains(k))
        );
    }

    #[test]
    fn the_index_is_built_on_the_expression_searches_ask_with() {
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let migration = include_str!("../migrations/postgres/0020_search_hours.sql");
        assert!(words(migration).contains(&words(HOUR_KEYS_SQL)));
    }

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(fts_phrase("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn snippets_escape_html_and_mark_every_match_in_view() {
        assert_eq!(
            snippet("<b>退款</b> 请退款", "退款"),
            "&lt;b&gt;<mark>退款</mark>&lt;/b&gt; 请<mark>退款</mark>"
        );
        assert_eq!(
            snippet("Refund or REFUND", "refund"),
            "<mark>Refund</mark> or <mark>REFUND</mark>"
        );
        let long = format!("{}关键{}", "前".repeat(40), "后".repeat(40));
        let s = snippet(&long, "关键");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert_eq!(s.chars().filter(|c| *c == '前').count(), SNIPPET_CONTEXT);
        assert!(s.contains("<mark>关键</mark>"));
        // No match (folding differs): the start of the text, still escaped.
        assert_eq!(snippet("a&b", "zz"), "a&amp;b");
    }
}
