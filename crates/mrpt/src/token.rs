//! Session tokens: what the cookie carries, the hash the store keeps, and
//! the CSRF token derived from it.
//!
//! A token is 32 bytes from the operating system's random source followed by
//! the 16 bytes of the user's id (routing data only: it lets a store keep a
//! session beside its user's records). The store never sees the token, only
//! its SHA-256, so a leaked store cannot be replayed as cookies.

use crate::domain::UserId;
use crate::store::SessionKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const SECRET_LEN: usize = 32;
const TOKEN_LEN: usize = SECRET_LEN + 16;
/// Keeps the CSRF token unrelated to the stored hash of the same token.
const CSRF_DOMAIN: &[u8] = b"mrpt csrf token v1\0";

/// A session token. Not `Debug` or `Display`: it must never be logged.
pub struct SessionToken {
    raw: [u8; TOKEN_LEN],
}

/// SHA-256 of a session token: the session's key in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl SessionToken {
    pub fn issue(user: UserId) -> Self {
        let mut raw = [0u8; TOKEN_LEN];
        OsRng.fill_bytes(&mut raw[..SECRET_LEN]);
        raw[SECRET_LEN..].copy_from_slice(user.as_uuid().as_bytes());
        Self { raw }
    }

    /// Reads a cookie value; anything that is not exactly a token's shape is
    /// refused before the store is asked.
    pub fn parse(cookie_value: &str) -> Option<Self> {
        if cookie_value.len() != 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(cookie_value).ok()?;
        Some(Self { raw: bytes.try_into().ok()? })
    }

    pub fn cookie_value(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.raw)
    }

    /// The user this token claims to belong to; the store's record decides.
    pub fn claimed_user(&self) -> UserId {
        let mut id = [0u8; 16];
        id.copy_from_slice(&self.raw[SECRET_LEN..]);
        UserId::from_bytes(id)
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.raw).into())
    }

    /// Where the store finds this token's session.
    pub fn key(&self) -> SessionKey {
        SessionKey { user_id: self.claimed_user(), token_hash: self.hash() }
    }

    pub fn csrf_token(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(CSRF_DOMAIN);
        hasher.update(self.raw);
        URL_SAFE_NO_PAD.encode(hasher.finalize())
    }

    pub fn csrf_matches(&self, presented: &str) -> bool {
        self.csrf_token().as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_through_its_cookie_value() {
        let user = UserId::random();
        let token = SessionToken::issue(user);
        let parsed = SessionToken::parse(&token.cookie_value()).unwrap();
        assert_eq!(parsed.hash(), token.hash());
        assert_eq!(parsed.claimed_user(), user);
    }

    #[test]
    fn tokens_are_unique_and_malformed_ones_are_refused() {
        let user = UserId::random();
        assert_ne!(SessionToken::issue(user).hash(), SessionToken::issue(user).hash());
        assert!(SessionToken::parse("short").is_none());
        assert!(SessionToken::parse(&"*".repeat(64)).is_none());
    }

    #[test]
    fn csrf_token_is_bound_to_the_session_and_differs_from_the_hash() {
        let token = SessionToken::issue(UserId::random());
        let other = SessionToken::issue(UserId::random());
        assert!(token.csrf_matches(&token.csrf_token()));
        assert!(!token.csrf_matches(&other.csrf_token()));
        assert!(!token.csrf_matches(""));
        assert_ne!(token.csrf_token(), URL_SAFE_NO_PAD.encode(token.hash().0));
    }
}
