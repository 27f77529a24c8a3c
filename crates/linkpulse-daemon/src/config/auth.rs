//! `auth:` — who may read and who may change things on the daemon's own HTTP surfaces.
//!
//! ```yaml
//! auth:
//!   tokens:                       # bearer tokens, each read from a file (relative to the config)
//!     - { role: read, token_file: grafana.token }
//!     - { role: write, token_file: ops.token }
//!   users:                        # for the dashboard's login (HTTP Basic), argon2 hashes
//!     - { name: alice, role: read, password_hash: "$argon2id$v=19$m=19456,t=2,p=1$…" }
//! ```
//!
//! Without an `auth:` section every surface stays open as before (and `api_token` alone guards
//! the endpoints that change things). What each role may reach is decided in
//! [`crate::access`].

use std::path::Path;

use serde::Deserialize;

use super::spanned::S;

/// Fewest characters of a bearer token.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read the API, the dashboard, the event streams, `/metrics` and `/probe`.
    Read,
    /// Everything `Read` may, and change things (`POST /api/v1/reload`, any non-GET request).
    Write,
}

impl Role {
    /// `read` or `write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
        }
    }
}

/// A validated `auth:` section.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Bearer tokens and their roles.
    pub tokens: Vec<(Role, String)>,
    /// Users of the dashboard's login.
    pub users: Vec<UserConfig>,
}

/// Never prints a token or a hash.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("tokens", &self.tokens.len())
            .field(
                "users",
                &self.users.iter().map(|u| &u.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// One user of the dashboard's login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConfig {
    /// The login name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// The password's argon2 hash in PHC form (`$argon2id$…`), checked to parse.
    pub password_hash: String,
}

/// `auth:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    #[serde(default)]
    tokens: Vec<RawToken>,
    #[serde(default)]
    users: Vec<RawUser>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    role: S<String>,
    token_file: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: S<String>,
    role: S<String>,
    password_hash: S<String>,
}

/// A problem: line, key path, message.
pub(crate) type Problem = (u64, String, String);

fn role(s: &S<String>, path: String, problems: &mut Vec<Problem>) -> Option<Role> {
    match s.value.trim() {
        "read" => Some(Role::Read),
        "write" => Some(Role::Write),
        other => {
            problems.push((
                s.referenced.line(),
                path,
                format!("invalid role {other:?} (read or write)"),
            ));
            None
        }
    }
}

/// Validates `auth:`; relative `token_file`s are read from `base` (the config's directory).
pub(crate) fn validate(raw: &RawAuth, base: &Path) -> Result<AuthConfig, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut tokens = Vec::new();
    for (i, t) in raw.tokens.iter().enumerate() {
        let role = role(&t.role, format!("auth.tokens[{i}].role"), &mut problems);
        let line = t.token_file.referenced.line();
        let key = format!("auth.tokens[{i}].token_file");
        let path = base.join(t.token_file.value.trim());
        let token = match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().len() >= MIN_TOKEN_LEN => Some(text.trim().to_owned()),
            Ok(_) => {
                problems.push((
                    line,
                    key,
                    format!(
                        "{} holds fewer than {MIN_TOKEN_LEN} characters",
                        path.display()
                    ),
                ));
                None
            }
            Err(err) => {
                problems.push((line, key, format!("cannot read {}: {err}", path.display())));
                None
            }
        };
        if let (Some(role), Some(token)) = (role, token) {
            if tokens.iter().any(|(_, t)| *t == token) {
                problems.push((
                    line,
                    format!("auth.tokens[{i}].token_file"),
                    "the same token is listed twice".to_owned(),
                ));
            }
            tokens.push((role, token));
        }
    }
    let mut users: Vec<UserConfig> = Vec::new();
    for (i, u) in raw.users.iter().enumerate() {
        let role = role(&u.role, format!("auth.users[{i}].role"), &mut problems);
        let name = u.name.value.trim();
        if name.is_empty() || name.contains(':') {
            problems.push((
                u.name.referenced.line(),
                format!("auth.users[{i}].name"),
                format!("invalid user name {name:?} (not empty, no ':')"),
            ));
        } else if users.iter().any(|x| x.name == name) {
            problems.push((
                u.name.referenced.line(),
                format!("auth.users[{i}].name"),
                format!("duplicate user {name:?}"),
            ));
        }
        let hash = u.password_hash.value.trim();
        let hash_ok = match argon2::PasswordHash::new(hash) {
            Ok(h) if h.algorithm.as_str().starts_with("argon2") => true,
            Ok(h) => {
                problems.push((
                    u.password_hash.referenced.line(),
                    format!("auth.users[{i}].password_hash"),
                    format!("the hash uses {}, not argon2", h.algorithm),
                ));
                false
            }
            Err(e) => {
                problems.push((
                    u.password_hash.referenced.line(),
                    format!("auth.users[{i}].password_hash"),
                    format!("not an argon2 hash in PHC form ($argon2id$v=19$…): {e}"),
                ));
                false
            }
        };
        if let (Some(role), true) = (role, hash_ok) {
            users.push(UserConfig {
                name: name.to_owned(),
                role,
                password_hash: hash.to_owned(),
            });
        }
    }
    if problems.is_empty() {
        Ok(AuthConfig { tokens, users })
    } else {
        Err(problems)
    }
}
