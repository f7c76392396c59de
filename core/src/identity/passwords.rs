//! Passwords: argon2id hashes, computed on the hashing threads (bounded, off the
//! connection).

use std::sync::OnceLock;

use crate::{Ctx, Error, Result, platform::domain::Password, platform::hashing::argon};

/// Hashes a password with argon2id (default OWASP parameters) on the hashing threads.
/// Callers hold no database connection while this runs.
pub async fn hash_password(ctx: &Ctx, password: &Password) -> Result<String> {
    let raw = password.expose().to_owned();
    ctx.hashing
        .run(move || argon::hash(raw.as_bytes()).map_err(|e| Error::internal(format!("hashing a password: {e}"))))
        .await?
}

/// Verifies a password against a stored hash. With no stored hash, a dummy hash is
/// checked so that unknown accounts take as long as known ones.
pub async fn verify_password(ctx: &Ctx, stored: Option<String>, password: String) -> Result<bool> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    ctx.hashing
        .run(move || {
            let (hash, real) = match stored {
                Some(h) => (h, true),
                None => (
                    DUMMY
                        .get_or_init(|| argon::hash(b"not a real password").unwrap_or_default())
                        .clone(),
                    false,
                ),
            };
            argon::verify(password.as_bytes(), &hash) && real
        })
        .await
}
