//! Authentication for firm members (and, with the same machinery, clients): the session
//! cookie, bearer tokens, CSRF for cookie-authenticated unsafe requests, client addresses for
//! throttling, and the sign-in routine shared by the HTML pages and the JSON API.

use std::time::Duration;

use poem::http::{HeaderValue, Method, header};
use poem::web::cookie::{Cookie, SameSite};
use poem::{FromRequest, Request, RequestBody};
use std::future::Future;

use portico_platform::cache::EpochCache;
use portico_platform::ids::MemberId;
use portico_platform::token::{TokenHash, constant_time_eq, looks_like_token};
use portico_platform::{TenantDb, TenantTx};
use portico_tenants::TenantRecord;
use portico_tenants::audit::{self, AuditEvent};
use portico_tenants::members::{self, Member};
use portico_tenants::sessions::{
    self, ActiveSession, Found, Freshness, NewSession, PrincipalKind, SessionPolicy, SessionTimes,
};
use portico_tenants::throttle::{self, ThrottleKeys, ThrottlePolicy};
use sea_orm::DbErr;
use secrecy::SecretString;

use crate::error::ApiError;
use crate::middleware::{RequestHost, is_same_origin_request};
use crate::state::AppState;

pub fn session_cookie_name(state: &AppState) -> &'static str {
    if state.settings.is_https() {
        "__Host-portico_session"
    } else {
        "portico_session"
    }
}

pub fn session_policy(state: &AppState) -> SessionPolicy {
    SessionPolicy {
        idle: Duration::from_secs(state.settings.auth.session_idle_secs),
        absolute: Duration::from_secs(state.settings.auth.session_absolute_secs),
    }
}

pub fn throttle_policy(state: &AppState) -> ThrottlePolicy {
    let a = &state.settings.auth;
    ThrottlePolicy {
        account_max_failures: a.account_max_failures,
        account_window: Duration::from_secs(a.account_window_secs),
        lockout_base: Duration::from_secs(a.lockout_base_secs),
        lockout_max: Duration::from_secs(a.lockout_max_secs),
        ip_max_failures: a.ip_max_failures,
        ip_window: Duration::from_secs(a.ip_window_secs),
    }
}

/// The host-only session cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`, no `Domain`, and
/// `Secure` with the `__Host-` prefix when served over https.
pub fn session_cookie(state: &AppState, value: &str) -> Cookie {
    let mut cookie = Cookie::new_with_str(session_cookie_name(state), value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(state.settings.is_https());
    cookie.set_max_age(Duration::from_secs(
        state.settings.auth.session_absolute_secs,
    ));
    cookie
}

/// The client's address: the peer, or — behind `auth.trusted_proxy_hops` proxies — the address
/// the outermost trusted proxy saw in `X-Forwarded-For`.
pub fn client_ip(req: &Request, state: &AppState) -> Option<String> {
    let hops = state.settings.auth.trusted_proxy_hops as usize;
    if hops > 0 {
        let forwarded: Vec<String> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty())
            .collect();
        if forwarded.len() >= hops {
            return forwarded.get(forwarded.len() - hops).cloned();
        }
    }
    req.remote_addr()
        .as_socket_addr()
        .map(|addr| addr.ip().to_string())
}

pub fn firm_of(req: &Request) -> Option<TenantRecord> {
    match req.data::<RequestHost>() {
        Some(RequestHost::Firm(tenant)) => Some(tenant.clone()),
        _ => None,
    }
}

/// How the caller presented its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presented {
    Cookie,
    Bearer,
}

/// The session token from `Authorization: Bearer …` or the session cookie.
pub fn presented_token(req: &Request, state: &AppState) -> Option<(String, Presented)> {
    if let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(token) = value.strip_prefix("Bearer ")
    {
        return Some((token.trim().to_owned(), Presented::Bearer));
    }
    req.cookie()
        .get(session_cookie_name(state))
        .map(|c| (c.value_str().to_owned(), Presented::Cookie))
}

/// A signed-in member on their firm's host.
#[derive(Clone)]
pub struct MemberCtx {
    pub tenant: TenantRecord,
    pub db: TenantDb,
    pub member: Member,
    pub session: ActiveSession,
    pub presented: Presented,
    pub ip: Option<String>,
}

impl MemberCtx {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.member.is_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("only administrators can do this"))
        }
    }
}

#[derive(Debug)]
pub enum AuthFailure {
    /// Not a firm host: the route does not exist here.
    NotFound,
    Unauthenticated,
    Csrf,
    Internal(String),
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::NotFound => ApiError::not_found(),
            AuthFailure::Unauthenticated => ApiError::unauthorized(),
            AuthFailure::Csrf => ApiError::forbidden(
                "cross-site request refused: send the X-CSRF-Token header from the same origin",
            ),
            AuthFailure::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// A live session on the request's firm host and the account behind it.
pub struct Authenticated<A> {
    pub tenant: TenantRecord,
    pub db: TenantDb,
    pub account: A,
    pub session: ActiveSession,
    pub presented: Presented,
    pub ip: Option<String>,
}

/// A live session and its account as last read from the database.
#[derive(Clone)]
pub struct CachedSession<A> {
    session: ActiveSession,
    times: SessionTimes,
    account: A,
}

/// Sessions by token hash. Entries are served only while their firm's write epoch holds
/// ([`EpochCache`]): sign-out, a password reset, a disabled account, a renamed contact, a
/// changed member — every write of the firm retires them at once, and the session's own
/// deadlines are checked again on every use. On PostgreSQL the epoch is read from the database
/// on every request (one indexed row), so a session ended through any node is refused by every
/// node on its next request.
pub type SessionCache<A> = EpochCache<String, CachedSession<A>>;

/// A cache of answers kept with write epochs (sessions, client reads), for at most 30 s like the
/// host cache — on SQLite, the bound for a change made by another process (a `portico tenant …`
/// command beside the server), which does not move this process's epochs.
pub fn memory_cache<K, V>() -> EpochCache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    EpochCache::new(Duration::from_secs(30), 100_000)
}

/// Resolves the account of kind `K` behind the request's session (CSRF is checked
/// separately). The session and the account are read in one transaction, or answered from
/// [`SessionCache`]; the rare writes (an expired session deleted, `last_seen_at` touched once
/// a minute) come after it.
pub async fn authenticate<K: AccountKind>(
    req: &Request,
    state: &AppState,
) -> Result<Authenticated<K::Account>, AuthFailure> {
    let tenant = firm_of(req).ok_or(AuthFailure::NotFound)?;
    let (token, presented) = presented_token(req, state).ok_or(AuthFailure::Unauthenticated)?;
    if !looks_like_token(&token) {
        return Err(AuthFailure::Unauthenticated);
    }
    let internal = |e: DbErr| AuthFailure::Internal(e.to_string());
    let db = state.db.tenant(tenant.id);
    let policy = session_policy(state);
    let cache = K::session_cache(state);
    let hash = TokenHash::of(&token);
    let epoch = db.epoch().await.map_err(internal)?;
    if let Some(hit) = cache.get(tenant.id, hash.as_str().to_owned(), epoch)
        && hit.times.judge(chrono::Utc::now(), policy) == (Freshness::Live { touch: false })
    {
        state.metrics.session_lookup(true);
        return Ok(Authenticated {
            ip: client_ip(req, state),
            tenant,
            db,
            account: hit.account,
            session: hit.session,
            presented,
        });
    }
    state.metrics.session_lookup(false);
    let tx = db.read().await.map_err(internal)?;
    let found = sessions::find(&tx, &hash, policy).await.map_err(internal)?;
    let account = match found.live(K::PRINCIPAL) {
        Some(session) => K::session_account(&tx, session.principal_id)
            .await
            .map_err(internal)?,
        None => None,
    };
    tx.commit().await.map_err(internal)?;
    // A session due a touch is not cached: its kept deadlines would be a minute old, so every
    // hit would come back here for the touch anyway.
    let untouched_times = match &found {
        Found::Live {
            times,
            touch: false,
            ..
        } => Some(*times),
        _ => None,
    };
    let session = sessions::settle(&db, found)
        .await
        .map_err(internal)?
        .filter(|s| s.principal_kind == K::PRINCIPAL)
        .ok_or(AuthFailure::Unauthenticated)?;
    let account = account.ok_or(AuthFailure::Unauthenticated)?;
    if let Some(times) = untouched_times {
        let cached = CachedSession {
            session: session.clone(),
            times,
            account: account.clone(),
        };
        cache.insert(tenant.id, hash.as_str().to_owned(), epoch, cached);
    }
    Ok(Authenticated {
        ip: client_ip(req, state),
        tenant,
        db,
        account,
        session,
        presented,
    })
}

/// Resolves the member behind the request's session (CSRF is checked separately).
pub async fn authenticate_member(
    req: &Request,
    state: &AppState,
) -> Result<MemberCtx, AuthFailure> {
    let found = authenticate::<Members>(req, state).await?;
    Ok(MemberCtx {
        tenant: found.tenant,
        db: found.db,
        member: found.account,
        session: found.session,
        presented: found.presented,
        ip: found.ip,
    })
}

/// Cookie-authenticated unsafe requests must come from the firm's own origin and carry the
/// session's CSRF token. Bearer tokens are not sent by browsers on their own, so they need
/// neither.
pub fn check_csrf(
    req: &Request,
    ctx: &MemberCtx,
    presented_csrf: Option<&str>,
) -> Result<(), AuthFailure> {
    check_session_csrf(
        req,
        ctx.presented,
        &ctx.session,
        &ctx.tenant,
        presented_csrf,
    )
}

/// The CSRF rule for any session (members and clients alike).
pub fn check_session_csrf(
    req: &Request,
    presented: Presented,
    session: &ActiveSession,
    tenant: &TenantRecord,
    presented_csrf: Option<&str>,
) -> Result<(), AuthFailure> {
    if presented == Presented::Bearer || is_safe(req.method()) {
        return Ok(());
    }
    let token_ok = presented_csrf.is_some_and(|t| constant_time_eq(t, &session.csrf_token));
    if token_ok && is_same_origin_request(req, &tenant.portal_url) {
        Ok(())
    } else {
        Err(AuthFailure::Csrf)
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The API extractor: a member session with CSRF checked from the `X-CSRF-Token` header.
pub struct FirmMember(pub MemberCtx);

impl<'a> FromRequest<'a> for FirmMember {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let Some(state) = req.data::<AppState>() else {
            return Err(ApiError::internal("application state missing").into());
        };
        let ctx = authenticate_member(req, state)
            .await
            .map_err(ApiError::from)?;
        let header = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        check_csrf(req, &ctx, header).map_err(ApiError::from)?;
        Ok(FirmMember(ctx))
    }
}

#[derive(Debug)]
pub enum LoginError {
    /// Wrong email or password, or an inactive account: one answer for all.
    Invalid,
    Locked(Duration),
    Internal(String),
}

impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::Invalid => ApiError::new(
                poem::http::StatusCode::UNAUTHORIZED,
                "The email or password is not correct.",
            ),
            LoginError::Locked(wait) => ApiError::too_many_requests(wait.as_secs().max(1)),
            LoginError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

fn internal(err: impl std::fmt::Display) -> LoginError {
    LoginError::Internal(err.to_string())
}

/// An account and its stored password hash (`None`: no password chosen yet).
pub type Credentials<A> = (A, Option<String>);

/// One kind of account that signs in with an email and a password.
pub trait AccountKind {
    type Account: Clone + Send + Sync + 'static;
    /// Separates the throttling counters of members and clients.
    const SCOPE: &'static str;
    const PRINCIPAL: PrincipalKind;

    /// Where this kind's sessions are cached.
    fn session_cache(state: &AppState) -> &SessionCache<Self::Account>;
    /// The account for an email, with its stored hash (`None`: no password yet).
    fn credentials(
        tx: &TenantTx,
        email: &str,
    ) -> impl Future<Output = Result<Option<Credentials<Self::Account>>, DbErr>> + Send;
    /// Whether the account may sign in at all (checked after verifying, so timing is equal).
    fn may_sign_in(account: &Self::Account) -> bool;
    /// The account behind a live session, if it may still use it.
    fn session_account(
        tx: &TenantTx,
        principal_id: uuid::Uuid,
    ) -> impl Future<Output = Result<Option<Self::Account>, DbErr>> + Send;
    fn principal_id(account: &Self::Account) -> uuid::Uuid;
    /// Records the sign-in (last login, audit) in the session's transaction.
    fn signed_in(
        tx: &TenantTx,
        account: &Self::Account,
        ip: Option<String>,
    ) -> impl Future<Output = Result<(), DbErr>> + Send;
}

/// Firm members.
pub struct Members;

impl AccountKind for Members {
    type Account = Member;
    const SCOPE: &'static str = "member";
    const PRINCIPAL: PrincipalKind = PrincipalKind::Member;

    fn session_cache(state: &AppState) -> &SessionCache<Member> {
        &state.member_sessions
    }

    async fn credentials(
        tx: &TenantTx,
        email: &str,
    ) -> Result<Option<(Member, Option<String>)>, DbErr> {
        members::credentials_by_email(tx, email).await
    }

    fn may_sign_in(account: &Member) -> bool {
        account.active
    }

    async fn session_account(tx: &TenantTx, id: uuid::Uuid) -> Result<Option<Member>, DbErr> {
        let member = members::get(tx, MemberId::from_uuid(id)).await?;
        Ok(member.filter(|m| m.active))
    }

    fn principal_id(account: &Member) -> uuid::Uuid {
        account.id.as_uuid()
    }

    async fn signed_in(tx: &TenantTx, member: &Member, ip: Option<String>) -> Result<(), DbErr> {
        members::record_login(tx, member.id).await?;
        audit::record(
            tx,
            AuditEvent {
                actor: member.actor(),
                action: "member.signed_in",
                target_kind: "member",
                target_id: Some(member.id.to_string()),
                ip,
                detail: None,
            },
        )
        .await
    }
}

/// Verifies an email and password under the throttling rules and starts a session.
pub async fn sign_in<K: AccountKind>(
    state: &AppState,
    tenant: &TenantRecord,
    email: &str,
    password: &SecretString,
    ip: Option<String>,
) -> Result<(K::Account, NewSession), LoginError> {
    let db = state.db.tenant(tenant.id);
    let email = email.trim().to_lowercase();
    let keys = ThrottleKeys::new(K::SCOPE, &email, ip.as_deref());
    if let Some(wait) = throttle::locked_for(&db, &keys).await.map_err(internal)? {
        tracing::warn!(tenant = %tenant.slug, scope = K::SCOPE, "sign-in refused: throttled");
        return Err(LoginError::Locked(wait));
    }
    let tx = db.read().await.map_err(internal)?;
    let found = K::credentials(&tx, &email).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    let (account, hash) = match found {
        Some((account, hash)) => (Some(account), hash),
        None => (None, None),
    };
    // Unknown accounts and accounts without a password verify against a dummy hash, so the
    // answer takes the same time whether or not the email exists.
    let verified = state.passwords.verify(hash.as_deref(), password).await;
    let account = match account {
        Some(account) if verified && K::may_sign_in(&account) => account,
        _ => {
            throttle::record_failure(&db, &keys, &throttle_policy(state))
                .await
                .map_err(internal)?;
            return Err(LoginError::Invalid);
        }
    };
    throttle::clear_account(&db, &keys)
        .await
        .map_err(internal)?;
    // Bookkeeping: a new session, the last-login time, audit and activity entries.
    let tx = db.write_bookkeeping().await.map_err(internal)?;
    let session = sessions::create(
        &tx,
        K::PRINCIPAL,
        K::principal_id(&account),
        ip.clone(),
        session_policy(state),
    )
    .await
    .map_err(internal)?;
    K::signed_in(&tx, &account, ip).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok((account, session))
}

/// [`sign_in`] for firm members.
pub async fn sign_in_member(
    state: &AppState,
    tenant: &TenantRecord,
    email: &str,
    password: &SecretString,
    ip: Option<String>,
) -> Result<(Member, NewSession), LoginError> {
    sign_in::<Members>(state, tenant, email, password, ip).await
}

/// Pages that carry a single-use token in their URL must not leak it through the Referer
/// header or a shared cache.
pub fn protect_token_page(response: &mut poem::Response) {
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
