//! Secrets that travel in cookies, headers and links.
//!
//! * Session and API tokens are random; only their SHA-256 is stored.
//! * Link tokens (e-mailed links) are derived from `(purpose, id, generation)` with the
//!   server secret, so the worker can re-create the link when it sends the e-mail while
//!   the database holds only the SHA-256. Bumping the generation invalidates old links.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use rand::{Rng, RngExt};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A short random code from an unambiguous alphabet (partner and affiliate codes).
pub fn random_code(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Hex SHA-256, the stored form of every token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(&(part.len() as u32).to_be_bytes());
        mac.update(part);
    }
    mac
}

/// The token of an e-mailed link.
pub fn link_token(secret: &[u8], purpose: &str, id: Uuid, generation: i32) -> String {
    let tag = mac(
        secret,
        &[b"link", purpose.as_bytes(), id.as_bytes(), &generation.to_be_bytes()],
    )
    .finalize()
    .into_bytes();
    URL_SAFE_NO_PAD.encode(tag)
}

/// An HMAC signature over `message` for a given purpose (signed download links).
pub fn sign(secret: &[u8], purpose: &str, message: &str) -> String {
    let tag = mac(secret, &[b"sign", purpose.as_bytes(), message.as_bytes()])
        .finalize()
        .into_bytes();
    URL_SAFE_NO_PAD.encode(tag)
}

/// Constant-time check of a signature made by [`sign`].
pub fn verify(secret: &[u8], purpose: &str, message: &str, signature: &str) -> bool {
    let expected = sign(secret, purpose, message);
    expected.as_bytes().ct_eq(signature.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_depend_on_every_input() {
        let id = Uuid::now_v7();
        let a = link_token(b"secret-a", "registration", id, 1);
        assert_eq!(a, link_token(b"secret-a", "registration", id, 1));
        assert_ne!(a, link_token(b"secret-b", "registration", id, 1));
        assert_ne!(a, link_token(b"secret-a", "invitation", id, 1));
        assert_ne!(a, link_token(b"secret-a", "registration", id, 2));
        assert_ne!(a, link_token(b"secret-a", "registration", Uuid::now_v7(), 1));
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn signatures_verify_and_detect_tampering() {
        let sig = sign(b"k", "download", "release=1&expires=5");
        assert!(verify(b"k", "download", "release=1&expires=5", &sig));
        assert!(!verify(b"k", "download", "release=1&expires=6", &sig));
        assert!(!verify(b"other", "download", "release=1&expires=5", &sig));
    }

    #[test]
    fn random_tokens_are_unique_and_hashes_stable() {
        assert_ne!(random_token(), random_token());
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let code = random_code(8);
        assert_eq!(code.len(), 8);
        assert!(
            code.chars()
                .all(|c| c.is_ascii_alphanumeric() && c != 'O' && c != '0' && c != 'I' && c != '1')
        );
    }
}
