//! Password hashing with Argon2id at OWASP's recommended cost, on its own
//! bounded pool, with equal work for unknown users so that timing does not
//! reveal which names exist.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use crate::error::ApiError;
use crate::work::BoundedPool;

/// OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and verifies passwords. Cheap to clone; holds no user data.
#[derive(Clone)]
pub struct PasswordHasherService {
    /// A hash of a random password with the same parameters as every stored
    /// one, verified against when the user is unknown.
    decoy_hash: String,
    /// Argon2 is deliberately slow and takes 19 MiB: at most the pool's
    /// threads hash at once, and a bounded number wait (503 `busy` beyond).
    pool: BoundedPool,
}

impl PasswordHasherService {
    pub fn new(pool: BoundedPool) -> Self {
        let decoy = SaltString::generate(&mut OsRng);
        Self { decoy_hash: hash_blocking(decoy.as_str()), pool }
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.pool.admit()?.run(move || hash_blocking(&password)).await
    }

    /// Verifies `password` against `stored`, or against the decoy when the
    /// user is unknown (always false then), taking the same work either way.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let known = stored.is_some();
        if !known {
            metrics::counter!("mrpt_decoy_hashes_total").increment(1);
        }
        let hash = stored.unwrap_or_else(|| self.decoy_hash.clone());
        let matches = self
            .pool
            .admit()?
            .run(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
                    .unwrap_or(false)
            })
            .await?;
        Ok(known && matches)
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
        let hasher = PasswordHasherService::new(BoundedPool::new("test", 1, 0));
        let stored = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.decoy_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify("correct horse battery".into(), Some(stored.clone())).await.unwrap());
        assert!(!hasher.verify("wrong horse battery".into(), Some(stored)).await.unwrap());
        assert!(!hasher.verify("anything at all".into(), None).await.unwrap());
    }
}
