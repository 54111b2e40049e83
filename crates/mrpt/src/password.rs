//! Password hashing with Argon2id at OWASP's recommended cost, with equal
//! work for unknown users so that timing does not reveal which names exist.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and verifies passwords. Cheap to clone; holds no user data.
#[derive(Clone)]
pub struct PasswordHasherService {
    /// A hash of a random password, verified against when the user is unknown.
    decoy_hash: String,
}

impl PasswordHasherService {
    pub fn new() -> Self {
        let decoy = SaltString::generate(&mut OsRng);
        Self { decoy_hash: hash_blocking(decoy.as_str()) }
    }

    /// Hashes on the blocking pool: Argon2 is deliberately slow.
    pub async fn hash(&self, password: String) -> String {
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .expect("hashing task does not panic")
    }

    /// Verifies `password` against `stored`, or against the decoy when the
    /// user is unknown (always false then), taking the same time either way.
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.decoy_hash.clone());
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .expect("verification task does not panic");
        known && matches
    }
}

impl Default for PasswordHasherService {
    fn default() -> Self {
        Self::new()
    }
}

fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 hashing with valid parameters succeeds")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let hasher = PasswordHasherService::new();
        let stored = hasher.hash("correct horse battery".into()).await;
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify("correct horse battery".into(), Some(stored.clone())).await);
        assert!(!hasher.verify("wrong horse battery".into(), Some(stored)).await);
        assert!(!hasher.verify("anything at all".into(), None).await);
    }
}
