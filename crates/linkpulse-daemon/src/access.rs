//! Access control of the daemon's own HTTP surfaces (the config's `auth:` section).
//!
//! Every request needs one of three things ([`need`]):
//! - nothing: `/healthz`, `/readyz`, the public status page (`/status`, its `/assets/…`,
//!   `/api/v1/status`, `/api/v1/status/events`) and the push endpoints (`/api/v1/push/…`,
//!   whose token is their credential);
//! - the `read` role: every other `GET`/`HEAD` — the API, the dashboard, the event streams,
//!   `/metrics`, `/probe`, the hub's nodes;
//! - the `write` role: every other method (`POST /api/v1/reload`).
//!
//! Credentials ([`Access::role`]): `Authorization: Bearer TOKEN` (the scheme in any case), or
//! `Basic` with a user's name and password (the dashboard's login: the browser asks, the
//! answer is checked against the user's argon2 hash) or with any name and a token as the
//! password (Prometheus' `basic_auth`). Tokens are compared in constant time; a verified
//! password is remembered (by the SHA-256 of the credentials) so that argon2 runs once per
//! login, not once per request. A login with a name no user has costs the same argon2 work
//! as a wrong password for a known user (it is verified against a dummy hash with the first
//! user's parameters), so user names cannot be found by timing logins. Without credentials
//! the answer is `401` with `WWW-Authenticate`; with a role too small, `403`. Without `auth:`
//! everything passes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::auth::{AuthConfig, Role, UserConfig};

/// How many verified logins are remembered before the memory is cleared.
const REMEMBERED: usize = 1024;

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: a public surface.
    Public,
    /// At least this role.
    Role(Role),
}

/// What a request with `method` to `path` needs (see the module docs).
pub fn need(method: &Method, path: &str) -> Need {
    let public = matches!(
        path,
        "/healthz" | "/readyz" | "/status" | "/api/v1/status" | "/api/v1/status/events"
    ) || path.starts_with("/assets/")
        || path.starts_with("/api/v1/push/");
    if public {
        Need::Public
    } else if matches!(*method, Method::GET | Method::HEAD) {
        Need::Role(Role::Read)
    } else {
        Need::Role(Role::Write)
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No credentials, or wrong ones: `401`.
    Unauthorized,
    /// Good credentials, too small a role: `403`.
    Forbidden,
}

/// The tokens and users of an `auth:` section, ready to check requests.
pub struct Access {
    tokens: Vec<(Role, String)>,
    users: Vec<UserConfig>,
    /// Roles of logins whose password was verified, by SHA-256 of `name:password`.
    verified: Mutex<HashMap<[u8; 32], Role>>,
    /// What a login with an unknown name is verified against (`None` without users).
    dummy: Option<String>,
    /// How many times argon2 ran (the unknown-name path must count too).
    argon2_runs: AtomicU64,
}

/// A PHC string with the algorithm, version, parameters and output length of `like` (or
/// argon2's defaults), a fixed salt and an all-zero output: verifying any password against it
/// costs what verifying against `like` costs, and never succeeds in practice.
fn dummy_hash(like: Option<&str>) -> Option<String> {
    let parsed = like.and_then(|h| PasswordHash::new(h).ok());
    let default = Argon2::default();
    let (algorithm, version, params) = match &parsed {
        Some(h) => (h.algorithm, h.version, h.params.clone()),
        None => (
            argon2::Algorithm::default().ident(),
            Some(argon2::Version::default().into()),
            default.params().try_into().ok()?,
        ),
    };
    let len = parsed
        .as_ref()
        .and_then(|h| h.hash)
        .map_or(argon2::Params::DEFAULT_OUTPUT_LEN, |o| o.len());
    let zeros = vec![0u8; len];
    let dummy = PasswordHash {
        algorithm,
        version,
        params,
        salt: Some(argon2::password_hash::Salt::from_b64("bGlua3B1bHNlZHVtbXk").ok()?),
        hash: Some(argon2::password_hash::Output::new(&zeros).ok()?),
    };
    Some(dummy.to_string())
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("tokens", &self.tokens.len())
            .field("users", &self.users.len())
            .finish()
    }
}

impl Access {
    /// Access as `config` says.
    pub fn new(config: &AuthConfig) -> Access {
        let dummy = match config.users.first() {
            Some(u) => dummy_hash(Some(&u.password_hash)).or_else(|| dummy_hash(None)),
            None => None,
        };
        Access {
            tokens: config.tokens.clone(),
            users: config.users.clone(),
            verified: Mutex::new(HashMap::new()),
            dummy,
            argon2_runs: AtomicU64::new(0),
        }
    }

    /// The role the `Authorization` header value gives; `None` without one or when wrong.
    /// May run argon2 (tens of milliseconds) for a login not seen before.
    pub fn role(&self, authorization: Option<&str>) -> Option<Role> {
        let (scheme, rest) = authorization?.trim().split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return self.token_role(rest);
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        self.token_role(password)
            .or_else(|| self.user_role(user, password))
    }

    /// Whether the credentials in `authorization` meet `need`.
    pub fn check(&self, need: Need, authorization: Option<&str>) -> Result<(), Denied> {
        let Need::Role(want) = need else {
            return Ok(());
        };
        match self.role(authorization) {
            Some(role) if role >= want => Ok(()),
            Some(_) => Err(Denied::Forbidden),
            None => Err(Denied::Unauthorized),
        }
    }

    /// Compares `given` with every token in constant time (no early exit).
    fn token_role(&self, given: &str) -> Option<Role> {
        let mut found = None;
        for (role, token) in &self.tokens {
            if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
                found = Some(*role);
            }
        }
        found
    }

    /// Runs argon2: whether `password` matches the PHC string `hash`.
    fn verify(&self, hash: &str, password: &str) -> bool {
        self.argon2_runs.fetch_add(1, Ordering::Relaxed);
        PasswordHash::new(hash).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    }

    fn user_role(&self, name: &str, password: &str) -> Option<Role> {
        let Some(user) = self.users.iter().find(|u| u.name == name) else {
            // The same work as a wrong password, whatever the outcome.
            if let Some(dummy) = &self.dummy {
                let _ = self.verify(dummy, password);
            }
            return None;
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update(b":")
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(role) = verified.get(&key) {
            return Some(*role);
        }
        drop(verified);
        if !self.verify(&user.password_hash, password) {
            return None;
        }
        verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= REMEMBERED {
            verified.clear();
        }
        verified.insert(key, user.role);
        Some(user.role)
    }
}

/// The access rules in force: `None` without `auth:`; replaced on reload.
pub type AccessSlot = Arc<RwLock<Option<Arc<Access>>>>;

/// Axum middleware: lets a request through when it meets what [`need`] says, else answers
/// `401` (with `WWW-Authenticate`, so a browser shows its login) or `403`.
pub async fn guard(State(slot): State<AccessSlot>, request: Request, next: Next) -> Response {
    let access = slot.read().unwrap_or_else(PoisonError::into_inner).clone();
    let Some(access) = access else {
        return next.run(request).await;
    };
    let need = need(request.method(), request.uri().path());
    if need == Need::Public {
        return next.run(request).await;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // argon2 may take tens of milliseconds: off the async threads.
    let verdict = tokio::task::spawn_blocking(move || access.check(need, authorization.as_deref()))
        .await
        .unwrap_or(Err(Denied::Unauthorized));
    match verdict {
        Ok(()) => next.run(request).await,
        Err(Denied::Forbidden) => (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({ "error": "this needs the write role" })),
        )
            .into_response(),
        Err(Denied::Unauthorized) => {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({
                    "error": "missing or wrong credentials (Authorization: Bearer TOKEN, or a user's login)"
                })),
            )
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"linkpulse\", charset=\"UTF-8\""),
            );
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;
    use argon2::password_hash::SaltString;

    fn access() -> Access {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let hash = Argon2::default()
            .hash_password(b"pw-of-alice", &salt)
            .unwrap()
            .to_string();
        Access::new(&AuthConfig {
            tokens: vec![
                (Role::Read, "reader-token-0123456".to_owned()),
                (Role::Write, "writer-token-0123456".to_owned()),
            ],
            users: vec![UserConfig {
                name: "alice".to_owned(),
                role: Role::Read,
                password_hash: hash,
            }],
        })
    }

    fn basic(user: &str, pw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
    }

    #[test]
    fn roles_from_bearer_tokens_in_any_case_and_basic_logins() {
        let a = access();
        assert_eq!(
            a.role(Some("Bearer reader-token-0123456")),
            Some(Role::Read)
        );
        assert_eq!(
            a.role(Some("bEaReR writer-token-0123456")),
            Some(Role::Write)
        );
        assert_eq!(a.role(Some("Bearer writer-token-012345")), None);
        assert_eq!(a.role(None), None);
        assert_eq!(
            a.role(Some(&basic("alice", "pw-of-alice"))),
            Some(Role::Read)
        );
        assert_eq!(
            a.role(Some(&basic("alice", "pw-of-alice"))),
            Some(Role::Read)
        );
        assert_eq!(a.role(Some(&basic("alice", "wrong"))), None);
        assert_eq!(a.role(Some(&basic("bob", "pw-of-alice"))), None);
        assert_eq!(
            a.role(Some(&basic("prometheus", "writer-token-0123456"))),
            Some(Role::Write)
        );
    }

    #[test]
    fn an_unknown_user_costs_the_same_argon2_work_as_a_wrong_password() {
        let a = access();
        let runs = || a.argon2_runs.load(Ordering::Relaxed);
        assert_eq!(a.role(Some(&basic("alice", "wrong"))), None);
        assert_eq!(runs(), 1, "a wrong password runs argon2");
        assert_eq!(a.role(Some(&basic("mallory", "wrong"))), None);
        assert_eq!(runs(), 2, "an unknown name runs argon2 too");
        assert_eq!(a.role(Some(&basic("mallory", "pw-of-alice"))), None);
        assert_eq!(runs(), 3);
        // Against a hash with alice's parameters (the same cost), not alice's hash.
        let dummy = PasswordHash::new(a.dummy.as_deref().unwrap()).unwrap();
        let alice = PasswordHash::new(&a.users[0].password_hash).unwrap();
        assert_eq!(dummy.algorithm, alice.algorithm);
        assert_eq!(dummy.version, alice.version);
        assert_eq!(dummy.params, alice.params);
        assert_eq!(dummy.hash.map(|o| o.len()), alice.hash.map(|o| o.len()));
        assert_ne!(dummy.salt, alice.salt);
        // A remembered login skips argon2; a cheaper path for unknown names does not exist.
        assert_eq!(
            a.role(Some(&basic("alice", "pw-of-alice"))),
            Some(Role::Read)
        );
        assert_eq!(runs(), 4);
        assert_eq!(
            a.role(Some(&basic("alice", "pw-of-alice"))),
            Some(Role::Read)
        );
        assert_eq!(runs(), 4);
        // Without users there is nothing to guess and no dummy.
        let none = Access::new(&AuthConfig {
            tokens: vec![(Role::Read, "reader-token-0123456".to_owned())],
            users: vec![],
        });
        assert!(none.dummy.is_none());
        assert_eq!(none.role(Some(&basic("x", "y"))), None);
        assert_eq!(none.argon2_runs.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_dummy_hash_has_the_default_parameters_when_the_first_hash_does_not_parse() {
        let d = dummy_hash(None).unwrap();
        let h = PasswordHash::new(&d).unwrap();
        assert_eq!(h.algorithm, argon2::Algorithm::Argon2id.ident());
        let (p, default) = (
            argon2::Params::try_from(&h).unwrap(),
            argon2::Params::default(),
        );
        assert_eq!(
            (p.m_cost(), p.t_cost(), p.p_cost()),
            (default.m_cost(), default.t_cost(), default.p_cost())
        );
    }

    #[test]
    fn what_each_surface_needs() {
        let get = Method::GET;
        for p in [
            "/healthz",
            "/readyz",
            "/status",
            "/assets/app.js",
            "/api/v1/status",
            "/api/v1/status/events",
            "/api/v1/push/t",
        ] {
            assert_eq!(need(&get, p), Need::Public, "{p}");
        }
        assert_eq!(need(&Method::POST, "/api/v1/push/t/fail"), Need::Public);
        for p in [
            "/",
            "/api/v1/checks",
            "/api/v1/events",
            "/metrics",
            "/probe",
            "/api/v1/nodes",
        ] {
            assert_eq!(need(&get, p), Need::Role(Role::Read), "{p}");
        }
        assert_eq!(
            need(&Method::POST, "/api/v1/reload"),
            Need::Role(Role::Write)
        );
        let a = access();
        let read = Some("Bearer reader-token-0123456");
        assert_eq!(
            a.check(Need::Role(Role::Write), read),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            a.check(Need::Role(Role::Read), None),
            Err(Denied::Unauthorized)
        );
        assert_eq!(a.check(Need::Role(Role::Read), read), Ok(()));
    }
}
