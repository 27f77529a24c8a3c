//! Generated push tokens: `HMAC-SHA256(key, check name)`, the key random and kept in the
//! database ([`crate::storage::Storage::secret`] under [`KEY_NAME`]).
//!
//! A check without `push.token` gets the token derived from its name with that key: stable
//! across restarts and reloads (and the same on every daemon sharing a PostgreSQL database),
//! yet nobody without the key can compute it from the name. A configured `token` is used as
//! written.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::config::{CheckConfig, CheckSpec};

/// The name of the key in the database's secrets.
pub const KEY_NAME: &str = "push_token_key";

/// A new random key (32 bytes, hex): stored only when the database has none yet.
pub fn new_key() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    hex(&key)
}

/// The generated token of check `name`: 32 hex digits (128 bits) of
/// `HMAC-SHA256(key, "linkpulse push token\0" + name)`.
pub fn derive(key: &str, name: &str) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(b"linkpulse push token\0");
    mac.update(name.as_bytes());
    hex(&mac.finalize().into_bytes()[..16])
}

/// Gives every push check of `checks` without a configured token its generated one.
pub fn resolve(checks: &mut [CheckConfig], key: &str) {
    for c in checks {
        if let CheckSpec::Push {
            token, generated, ..
        } = &mut c.spec
            && *generated
        {
            *token = derive(key, &c.name);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_per_key_and_name_and_differ_otherwise() {
        let (k1, k2) = (new_key(), new_key());
        assert_eq!(k1.len(), 64);
        assert_ne!(k1, k2);
        assert_eq!(derive(&k1, "job"), derive(&k1, "job"));
        assert_eq!(derive(&k1, "job").len(), 32);
        assert_ne!(derive(&k1, "job"), derive(&k2, "job"));
        assert_ne!(derive(&k1, "job"), derive(&k1, "job2"));
        assert!(!derive(&k1, "job").contains("job"));
    }
}
