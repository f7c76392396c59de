//! Password hashing off the async runtime, on a fixed set of threads.
//!
//! An argon2id hash takes about 19 MiB. Run on tokio's blocking pool, every burst of
//! log-ins grew new threads whose allocator arenas kept that memory for good; here a
//! fixed number of threads (`PASSWORD_HASH_CONCURRENCY`) does all hashing, so memory
//! stays at about that many hashes, and a caller that cannot get a slot within the
//! pool wait is answered 503 instead of queueing without end.

use std::{
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use tokio::sync::{Semaphore, oneshot};

use crate::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

pub struct HashPool {
    jobs: Mutex<mpsc::Sender<Job>>,
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl HashPool {
    /// Starts `threads` hashing threads; they end when the pool is dropped.
    pub fn new(threads: usize, wait: Duration) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("starting a password hashing thread");
        }
        HashPool {
            jobs: Mutex::new(tx),
            slots: Arc::new(Semaphore::new(threads)),
            wait,
        }
    }

    /// Runs `work` on a hashing thread.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let permit = match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(Error::internal("the hashing pool is closed")),
            Err(_) => return Err(Error::busy("no password hashing slot became free in time")),
        };
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            let _ = done.send(work());
        });
        self.jobs
            .lock()
            .map_err(|_| Error::internal("the hashing pool is poisoned"))?
            .send(job)
            .map_err(|_| Error::internal("the hashing threads are gone"))?;
        result
            .await
            .map_err(|_| Error::internal("a hashing thread dropped its job"))
    }
}

/// argon2id with the default (OWASP) parameters, computed in memory that each hashing
/// thread allocates once and keeps: the argon2 crate's own API allocates and frees about
/// 19 MiB per hash with an alignment the system allocator does not reuse, so memory
/// grew with every log-in.
pub mod argon {
    use std::cell::RefCell;

    use argon2::{
        Algorithm, Argon2, Block, Params, Version,
        password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
    };
    use rand::Rng;
    use subtle::ConstantTimeEq;

    thread_local! {
        static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
    }

    fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        MEMORY.with(|memory| {
            let mut memory = memory.borrow_mut();
            if memory.len() != blocks {
                *memory = vec![Block::new(); blocks];
            }
            f(&mut memory)
        })
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for the password.
    pub fn hash(password: &[u8]) -> Result<String, String> {
        let params = Params::default();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
        with_memory(params.block_count(), |memory| {
            argon.hash_password_into_with_memory(password, &salt, &mut out, memory)
        })
        .map_err(|e| e.to_string())?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
            salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
            hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
        };
        Ok(phc.to_string())
    }

    /// Whether the password matches a stored PHC string (any argon2 variant and
    /// parameters the string names).
    pub fn verify(password: &[u8], stored: &str) -> bool {
        let Ok(phc) = PasswordHash::new(stored) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
            return false;
        };
        let version = match phc.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(v)) => v,
            Some(Err(_)) => return false,
        };
        let Ok(params) = Params::try_from(&phc) else {
            return false;
        };
        let argon = Argon2::new(algorithm, version, params.clone());
        let mut out = vec![0u8; expected.len()];
        let computed = with_memory(params.block_count(), |memory| {
            argon.hash_password_into_with_memory(password, salt.as_ref(), &mut out, memory)
        });
        computed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
    }

    #[cfg(test)]
    mod tests {
        use argon2::{PasswordHasher, PasswordVerifier};

        use super::*;

        #[test]
        fn hashes_verify_both_ways_with_the_argon2_crate() {
            let ours = hash(b"correct horse battery").unwrap();
            assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
            assert!(verify(b"correct horse battery", &ours));
            assert!(!verify(b"wrong horse battery", &ours));
            // The argon2 crate agrees, in both directions.
            let parsed = PasswordHash::new(&ours).unwrap();
            assert!(
                Argon2::default()
                    .verify_password(b"correct horse battery", &parsed)
                    .is_ok()
            );
            let theirs = Argon2::default().hash_password(b"another one").unwrap().to_string();
            assert!(verify(b"another one", &theirs));
            assert!(!verify(b"another two", &theirs));
            assert!(!verify(b"x", "not a phc string"));
        }
    }
}
