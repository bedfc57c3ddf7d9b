//! A member's activity feed (`/firm/activity`, `GET /api/v1/activity`) and unread badge,
//! answered from memory.
//!
//! Two values are kept per member, each with the firm's write epoch seen before it was read
//! (see [`portico_platform::epochs`]), so that everything a write makes retires them on every
//! node's next request — a client's document, note or field edit, sharing and unsharing,
//! invitations, assignments, the "seen" mark of opening the page:
//! - [`unread`]: the member's preferences and the count of client additions since they last
//!   opened the feed — the navigation's badge on every member page, and the page's own count.
//!   Client additions are writes, so the epoch is all it needs.
//! - [`feed`]: the newest [`FEED_LIMIT`] entries of a kind and a period. Client sign-ins are in
//!   it, and they are sign-in bookkeeping, which leaves the epoch alone so that a storm of
//!   sign-ins does not retire every kept session of the firm; so a kept feed is served for at
//!   most [`KEPT_FOR`], the longest a sign-in takes to appear under "Client Logins" (on any
//!   node, the one it happened on included).
//!
//! The period is applied again whenever a kept feed is shown: entries that have aged out of
//! "the last N days" since it was read are dropped. No entry can be missing instead — a newer
//! one would have been a write — so what is shown is what the database would answer.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use portico_platform::cache::EpochCache;
use portico_platform::ids::MemberId;
use portico_tenants::activity::{self, ActivityKind, Entry, Preferences};
use sea_orm::DbErr;

use crate::auth::MemberCtx;
use crate::state::AppState;
use crate::templates::Templates;

/// Entries per feed, newest first (the page and the API).
pub const FEED_LIMIT: u64 = 200;

/// How long a kept feed may be served: the bound on a client sign-in's delay in the feed.
pub const KEPT_FOR: Duration = Duration::from_secs(2);

/// All kept feeds together weigh at most this many bytes (a feed of 200 long entries is
/// ~150 KB; with [`KEPT_FOR`] only feeds opened in the last two seconds are held at all).
const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// What a feed was asked for: the member, the kind (none: every kind), the period in days
/// (none: no limit).
type FeedKey = (MemberId, Option<ActivityKind>, Option<i64>);

/// The member's preferences and unread count, as one read.
#[derive(Debug)]
pub struct Unread {
    pub preferences: Preferences,
    /// Client additions since the member last opened the feed.
    pub count: u64,
}

/// One read of the feed.
#[derive(Debug)]
pub struct Feed {
    entries: Vec<Entry>,
    days: Option<i64>,
    /// The entries' table rows as the page shows them, rendered once for as long as the feed
    /// is kept (see [`Feed::page_rows`]).
    page_rows: OnceLock<PageRows>,
}

/// Every entry's row, rendered, as one piece of HTML.
#[derive(Debug)]
struct PageRows {
    /// All rows, newest first, as a value the page's template places as it is. Cloning it
    /// shares the text: a page showing every row copies none of it.
    all: minijinja::Value,
    /// Where each row ends in `all`.
    ends: Vec<usize>,
}

impl PageRows {
    fn render(entries: &[Entry], templates: &Templates) -> Result<Self, minijinja::Error> {
        let mut html = String::new();
        let mut ends = Vec::with_capacity(entries.len());
        for entry in entries {
            html.push_str(&templates.render(ROW_TEMPLATE, page_row(entry))?);
            ends.push(html.len());
        }
        Ok(Self {
            all: minijinja::Value::from_safe_string(html),
            ends,
        })
    }

    /// The first `count` rows.
    fn first(&self, count: usize) -> minijinja::Value {
        if count >= self.ends.len() {
            return self.all.clone();
        }
        let end = count.checked_sub(1).map_or(0, |last| self.ends[last]);
        let html = self.all.as_str().unwrap_or_default();
        minijinja::Value::from_safe_string(html[..end].to_owned())
    }
}

impl Feed {
    /// The entries still inside the period now, newest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries[..self.shown()]
    }

    /// [`entries`](Self::entries) as the page's table rows (`firm_activity_row.html`, escaped
    /// by the template engine like every page), ready to be placed in the page as they are.
    ///
    /// The rows are rendered once per kept feed, not once per view: a page of entries is
    /// rendered many times over while nothing changes (a member re-opening it, several members
    /// of a firm), and rendering them was most of the page's cost (BENCHMARKS.md, item 20).
    /// A row depends on its entry alone — nothing of the viewer, the time or the request — so
    /// a kept row is exactly what rendering it again would give.
    pub fn page_rows(&self, templates: &Templates) -> Result<minijinja::Value, minijinja::Error> {
        let rows = match self.page_rows.get() {
            Some(rows) => rows,
            None => {
                let rendered = PageRows::render(&self.entries, templates)?;
                self.page_rows.get_or_init(|| rendered)
            }
        };
        Ok(rows.first(self.shown()))
    }

    /// How many entries are still inside the period: a prefix, as they are newest first.
    fn shown(&self) -> usize {
        let Some(days) = self.days else {
            return self.entries.len();
        };
        let cutoff = Utc::now() - chrono::Duration::days(days.clamp(1, 365));
        self.entries.partition_point(|e| e.occurred_at >= cutoff)
    }

    /// Roughly the bytes it holds, for the cache's bound.
    fn weight(feed: &Arc<Feed>) -> u32 {
        let strings: usize = feed
            .entries
            .iter()
            .map(|e| {
                e.kind.len()
                    + e.actor_kind.len()
                    + e.actor.len()
                    + e.action.len()
                    + e.summary.len()
                    + e.file_number.as_ref().map_or(0, String::len)
            })
            .sum();
        // The rendered rows, once the page is opened, hold the strings again and the markup.
        let rows = strings + feed.entries.len() * ROW_MARKUP_BYTES;
        let bytes = std::mem::size_of::<Feed>()
            + feed.entries.len() * std::mem::size_of::<Entry>()
            + strings
            + rows;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

/// One entry's row of the page's table.
const ROW_TEMPLATE: &str = "firm_activity_row.html";
/// Bytes of a rendered row besides the entry's own strings (`ROW_TEMPLATE`'s markup, the time
/// and the file's link), rounded up.
const ROW_MARKUP_BYTES: usize = 400;

fn page_row(e: &Entry) -> minijinja::Value {
    minijinja::context! {
        when => e.occurred_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        kind => &e.kind,
        who => &e.actor,
        actor_kind => &e.actor_kind,
        what => &e.summary,
        file_id => e.file_id,
        file_number => &e.file_number,
    }
}

pub struct ActivityFeeds {
    feeds: EpochCache<FeedKey, Arc<Feed>>,
    unread: EpochCache<MemberId, Arc<Unread>>,
}

impl Default for ActivityFeeds {
    fn default() -> Self {
        Self {
            feeds: EpochCache::weighed(KEPT_FOR, MAX_BYTES, Feed::weight),
            unread: crate::auth::memory_cache(),
        }
    }
}

/// The member's preferences and unread count, from memory while the firm has not been
/// written. Call it outside any transaction.
pub async fn unread(state: &AppState, ctx: &MemberCtx) -> Result<Arc<Unread>, DbErr> {
    let load = async {
        let tx = ctx.db.read().await?;
        let preferences = activity::preferences(&tx, ctx.member.id).await?;
        let count = activity::unread_since(&tx, &ctx.member, preferences.activity_seen_at).await?;
        tx.commit().await?;
        Ok::<_, DbErr>(Arc::new(Unread { preferences, count }))
    };
    let epoch = ctx.db.epoch().await?;
    let (unread, _) = state
        .activity_feeds
        .unread
        .get_or_load(ctx.tenant.id, ctx.member.id, epoch, load)
        .await?;
    Ok(unread)
}

/// The member's feed for `kind` over the last `days`, from memory while the firm has not been
/// written (and for at most [`KEPT_FOR`]), else read. Call it outside any transaction.
pub async fn feed(
    state: &AppState,
    ctx: &MemberCtx,
    kind: Option<ActivityKind>,
    days: Option<i64>,
) -> Result<Arc<Feed>, DbErr> {
    let load = async {
        let tx = ctx.db.read().await?;
        let filter = activity::Filter {
            kind,
            days,
            limit: FEED_LIMIT,
        };
        let entries = activity::list(&tx, &ctx.member, &filter).await?;
        tx.commit().await?;
        Ok::<_, DbErr>(Arc::new(Feed {
            entries,
            days,
            page_rows: OnceLock::new(),
        }))
    };
    let epoch = ctx.db.epoch().await?;
    let (feed, kept) = state
        .activity_feeds
        .feeds
        .get_or_load(ctx.tenant.id, (ctx.member.id, kind, days), epoch, load)
        .await?;
    state.metrics.activity_feed_read(kept);
    Ok(feed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(age: chrono::Duration, summary: &str) -> Entry {
        Entry {
            id: uuid::Uuid::now_v7(),
            occurred_at: Utc::now() - age,
            kind: ActivityKind::ClientActivity.as_str().to_owned(),
            file_id: None,
            file_number: None,
            actor_kind: "client".to_owned(),
            actor: "Chris Client".to_owned(),
            action: "note.added".to_owned(),
            summary: summary.to_owned(),
        }
    }

    fn kept(days: Option<i64>) -> Feed {
        Feed {
            entries: vec![
                entry(chrono::Duration::hours(1), "an hour ago"),
                // Inside "the last day" when it was read, a minute outside it now.
                entry(
                    chrono::Duration::days(1) + chrono::Duration::minutes(1),
                    "aged out",
                ),
            ],
            days,
            page_rows: OnceLock::new(),
        }
    }

    #[test]
    fn a_kept_feed_drops_what_aged_out_of_its_period() {
        let summaries = |feed: &Feed| -> Vec<String> {
            feed.entries().iter().map(|e| e.summary.clone()).collect()
        };
        let last_day = kept(Some(1));
        assert_eq!(summaries(&last_day), ["an hour ago"]);
        let templates = Templates::load().expect("templates");
        let rows = last_day.page_rows(&templates).expect("rows").to_string();
        assert_eq!(rows.matches("<tr").count(), 1, "{rows}");
        assert!(
            rows.contains("an hour ago") && !rows.contains("aged out"),
            "{rows}"
        );
        assert_eq!(summaries(&kept(Some(2))), ["an hour ago", "aged out"]);
        assert_eq!(kept(None).entries().len(), 2);
        let all = kept(None).page_rows(&templates).expect("rows").to_string();
        assert_eq!(all.matches("<tr").count(), 2, "{all}");
        assert!(
            all.starts_with(&rows),
            "the rows shown are a prefix of all of them"
        );
    }

    #[test]
    fn kept_rows_are_escaped_and_say_what_the_entry_says() {
        let mut feed = kept(None);
        feed.entries[0].summary = "<script>alert(1)</script> & more".to_owned();
        feed.entries[0].file_id = Some(uuid::Uuid::nil());
        feed.entries[0].file_number = Some("2026-<b>7</b>".to_owned());
        let templates = Templates::load().expect("templates");
        let rows = feed.page_rows(&templates).expect("rows").to_string();
        assert!(
            rows.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; more"),
            "{rows}"
        );
        assert!(
            !rows.contains("<script>") && !rows.contains("<b>"),
            "{rows}"
        );
        assert!(
            rows.contains("href=\"/firm/files/00000000-0000-0000-0000-000000000000\""),
            "{rows}"
        );
        assert!(rows.contains("Chris Client") && rows.contains("kind-client_activity"));
        // Asking again gives the same rows, from what was kept.
        assert_eq!(feed.page_rows(&templates).expect("rows").to_string(), rows);
    }

    #[test]
    fn a_feed_weighs_what_it_holds() {
        let light = Arc::new(kept(None));
        let mut heavy = kept(None);
        heavy.entries[0].summary = "x".repeat(500);
        assert!(Feed::weight(&Arc::new(heavy)) >= Feed::weight(&light) + 480);
    }
}
