//! HMAC-SHA256 challenge-response for the agent ⇄ hub handshake.
//!
//! The hub sends a fresh random nonce (CHALLENGE); the agent answers in HELLO with
//! `HMAC-SHA256(key, "linkpulse-hub-auth-v1" ‖ len(nonce) ‖ nonce ‖ len(name) ‖ name ‖
//! incarnation)`. The key is either a secret shared by every agent or a token per agent name.
//! No secret crosses the wire, a proof is bound to one connection (the nonce) and to the
//! agent's name and incarnation, and the hub compares proofs in constant time.
//!
//! A secret file holds either one line (the shared secret), or lines `NAME TOKEN` (one token
//! per agent), optionally with a `* TOKEN` line for agents without their own token. Empty
//! lines and lines starting with `#` are ignored.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use hmac::{Hmac, Mac};
use linkpulse_proto::{Authenticator, Hello};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Domain separation tag: a proof for this scheme can never be a valid MAC of anything else.
const TAG: &[u8] = b"linkpulse-hub-auth-v1";

/// Shortest secret accepted (bytes).
pub const MIN_SECRET_LEN: usize = 8;

/// Why a secret could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The file could not be read.
    #[error(transparent)]
    Read(#[from] linkpulse_sys::file::FileError),
    /// The file (or the environment variable) holds no secret.
    #[error("{origin}: no secret in it")]
    Empty {
        /// Where the secret came from (file path or variable name).
        origin: String,
    },
    /// A secret is too short to be worth anything.
    #[error("{origin}:{line}: secret is {len} bytes long, at least {MIN_SECRET_LEN} are needed")]
    TooShort {
        /// Where the secret came from.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// Its length.
        len: usize,
    },
    /// A line of a token file is not `NAME TOKEN`.
    #[error("{origin}:{line}: expected `NAME TOKEN` (or `* TOKEN`), found {found} fields")]
    Line {
        /// Where the secret came from.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// How many whitespace-separated fields the line has.
        found: usize,
    },
    /// The same agent name has two tokens.
    #[error("{origin}:{line}: a second token for `{name}`")]
    Duplicate {
        /// Where the secret came from.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// The agent name.
        name: String,
    },
}

/// The hub's keys: a shared secret and/or a token per agent name.
#[derive(Clone, Default)]
pub struct HubKeys {
    shared: Option<Vec<u8>>,
    per_agent: HashMap<String, Vec<u8>>,
}

impl fmt::Debug for HubKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets.
        f.debug_struct("HubKeys")
            .field("shared", &self.shared.is_some())
            .field("agents", &self.per_agent.len())
            .finish()
    }
}

impl HubKeys {
    /// Keys with only a shared secret.
    pub fn shared(secret: impl Into<Vec<u8>>) -> Self {
        HubKeys {
            shared: Some(secret.into()),
            per_agent: HashMap::new(),
        }
    }

    /// Reads a secret file (format in the module docs).
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        // A regular file of bounded size: a FIFO or /dev/zero is refused, never waited on.
        let text = linkpulse_sys::file::read_regular_to_string(
            path,
            linkpulse_sys::file::SMALL_FILE_LIMIT,
        )?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a secret file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, SecretError> {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let check = |line: usize, secret: &str| {
            if secret.len() < MIN_SECRET_LEN {
                Err(SecretError::TooShort {
                    origin: origin.to_owned(),
                    line,
                    len: secret.len(),
                })
            } else {
                Ok(secret.as_bytes().to_vec())
            }
        };
        match lines.as_slice() {
            [] => Err(SecretError::Empty {
                origin: origin.to_owned(),
            }),
            [(line, only)] if only.split_whitespace().count() == 1 => {
                Ok(HubKeys::shared(check(*line, only)?))
            }
            _ => {
                let mut keys = HubKeys::default();
                for (line, text) in &lines {
                    let fields: Vec<&str> = text.split_whitespace().collect();
                    let [name, token] = fields.as_slice() else {
                        return Err(SecretError::Line {
                            origin: origin.to_owned(),
                            line: *line,
                            found: fields.len(),
                        });
                    };
                    let token = check(*line, token)?;
                    let duplicate = if *name == "*" {
                        keys.shared.replace(token).is_some()
                    } else {
                        keys.per_agent.insert((*name).to_owned(), token).is_some()
                    };
                    if duplicate {
                        return Err(SecretError::Duplicate {
                            origin: origin.to_owned(),
                            line: *line,
                            name: (*name).to_owned(),
                        });
                    }
                }
                Ok(keys)
            }
        }
    }

    /// The key an agent called `name` must use, if any.
    fn key_for(&self, name: &str) -> Option<&[u8]> {
        self.per_agent
            .get(name)
            .or(self.shared.as_ref())
            .map(Vec::as_slice)
    }
}

/// Reads an agent's secret: the whole file or variable, trimmed (one line).
pub fn agent_secret(text: &str, origin: &str) -> Result<Vec<u8>, SecretError> {
    let secret = text.trim();
    if secret.is_empty() {
        return Err(SecretError::Empty {
            origin: origin.to_owned(),
        });
    }
    if secret.len() < MIN_SECRET_LEN {
        return Err(SecretError::TooShort {
            origin: origin.to_owned(),
            line: 1,
            len: secret.len(),
        });
    }
    Ok(secret.as_bytes().to_vec())
}

/// The MAC over one handshake, keyed by `key` (`None` only if the MAC refused the key, which
/// HMAC never does: it accepts keys of any length).
fn mac(key: &[u8], challenge: &[u8], hello: &Hello) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(TAG);
    for part in [challenge, hello.node_name.as_bytes()] {
        mac.update(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        mac.update(part);
    }
    mac.update(&hello.incarnation.boot_id);
    mac.update(&hello.incarnation.nonce.to_be_bytes());
    Some(mac)
}

fn prove_with(key: &[u8], challenge: &[u8], hello: &Hello) -> Vec<u8> {
    mac(key, challenge, hello)
        .map(|m| m.finalize().into_bytes().to_vec())
        .unwrap_or_default()
}

/// Constant-time check of `hello.auth_proof` (`verify_slice` compares in constant time).
fn verify_with(key: &[u8], challenge: &[u8], hello: &Hello) -> Result<(), String> {
    match mac(key, challenge, hello).map(|m| m.verify_slice(&hello.auth_proof)) {
        Some(Ok(())) => Ok(()),
        _ => Err("authentication failed".to_owned()),
    }
}

/// The agent's side: proves knowledge of its secret.
#[derive(Clone)]
pub struct AgentAuth {
    key: Vec<u8>,
}

impl AgentAuth {
    /// An authenticator holding the agent's secret (shared secret or its own token).
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        AgentAuth { key: secret.into() }
    }
}

impl fmt::Debug for AgentAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AgentAuth { .. }")
    }
}

impl Authenticator for AgentAuth {
    fn prove(&self, challenge: &[u8], hello: &Hello) -> Vec<u8> {
        prove_with(&self.key, challenge, hello)
    }

    fn verify(&self, challenge: &[u8], hello: &Hello) -> Result<(), String> {
        verify_with(&self.key, challenge, hello)
    }
}

/// The hub's side: checks an agent's proof against its token or the shared secret.
#[derive(Debug, Clone)]
pub struct HubAuth {
    keys: HubKeys,
}

impl HubAuth {
    /// A verifier over these keys.
    pub fn new(keys: HubKeys) -> Self {
        HubAuth { keys }
    }
}

impl Authenticator for HubAuth {
    fn prove(&self, challenge: &[u8], hello: &Hello) -> Vec<u8> {
        match self.keys.key_for(&hello.node_name) {
            Some(key) => prove_with(key, challenge, hello),
            None => Vec::new(),
        }
    }

    fn verify(&self, challenge: &[u8], hello: &Hello) -> Result<(), String> {
        // The same text whatever went wrong, so a client learns nothing about which names
        // have tokens.
        let key = self
            .keys
            .key_for(&hello.node_name)
            .ok_or_else(|| "authentication failed".to_owned())?;
        verify_with(key, challenge, hello)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use linkpulse_proto::{Incarnation, WIRE_VERSION};

    use super::*;

    fn hello(name: &str) -> Hello {
        Hello {
            min_version: WIRE_VERSION,
            max_version: WIRE_VERSION,
            node_name: name.to_owned(),
            labels: Vec::new(),
            incarnation: Incarnation::new([3; 16], 42),
            interval: Duration::from_millis(100),
            auth_proof: Bytes::new(),
            advertise: None,
        }
    }

    fn proved(auth: &AgentAuth, challenge: &[u8], name: &str) -> Hello {
        let mut h = hello(name);
        h.auth_proof = Bytes::from(auth.prove(challenge, &h));
        h
    }

    #[test]
    fn shared_secret_accepts_the_right_proof_only() {
        let hub = HubAuth::new(HubKeys::shared(b"s3cret-shared".to_vec()));
        let good = AgentAuth::new(b"s3cret-shared".to_vec());
        let bad = AgentAuth::new(b"wrong-secret".to_vec());
        assert!(
            hub.verify(b"nonce-1", &proved(&good, b"nonce-1", "a"))
                .is_ok()
        );
        assert!(
            hub.verify(b"nonce-1", &proved(&bad, b"nonce-1", "a"))
                .is_err()
        );
        // A proof for another challenge (replay) or another name does not verify.
        assert!(
            hub.verify(b"nonce-2", &proved(&good, b"nonce-1", "a"))
                .is_err()
        );
        let mut renamed = proved(&good, b"nonce-1", "a");
        renamed.node_name = "b".into();
        assert!(hub.verify(b"nonce-1", &renamed).is_err());
        // The proof does not contain the secret.
        let h = proved(&good, b"nonce-1", "a");
        assert!(
            !h.auth_proof
                .windows(b"s3cret-shared".len())
                .any(|w| w == b"s3cret-shared")
        );
    }

    #[test]
    fn per_agent_tokens_and_fallback() {
        let keys = HubKeys::parse(
            "# tokens\nw1 token-one-111\nw2 token-two-222\n* fallback-000\n",
            "f",
        )
        .unwrap();
        let hub = HubAuth::new(keys);
        let one = AgentAuth::new(b"token-one-111".to_vec());
        let fallback = AgentAuth::new(b"fallback-000".to_vec());
        assert!(hub.verify(b"n", &proved(&one, b"n", "w1")).is_ok());
        assert!(hub.verify(b"n", &proved(&one, b"n", "w2")).is_err());
        assert!(hub.verify(b"n", &proved(&fallback, b"n", "w9")).is_ok());
        assert!(hub.verify(b"n", &proved(&fallback, b"n", "w1")).is_err());
    }

    #[test]
    fn bad_secret_files_name_the_problem() {
        let e = HubKeys::parse("\n# nothing\n", "s.txt").unwrap_err();
        assert_eq!(e.to_string(), "s.txt: no secret in it");
        let e = HubKeys::parse("short", "s.txt").unwrap_err();
        assert!(
            e.to_string().starts_with("s.txt:1: secret is 5 bytes"),
            "{e}"
        );
        let e = HubKeys::parse("w1 token-one-111\nw2 a b\n", "s.txt").unwrap_err();
        assert_eq!(
            e.to_string(),
            "s.txt:2: expected `NAME TOKEN` (or `* TOKEN`), found 3 fields"
        );
        let e = HubKeys::parse("w1 token-one-111\nw1 token-one-222\n", "s.txt").unwrap_err();
        assert_eq!(e.to_string(), "s.txt:2: a second token for `w1`");
        assert!(agent_secret("  \n", "LINKPULSE_SECRET").is_err());
        assert_eq!(
            agent_secret("abcdefgh\n", "x").unwrap(),
            b"abcdefgh".to_vec()
        );
    }
}
