//! PBKDF2-HMAC-SHA512, like Node's `crypto.pbkdf2` (on the pool, CPU class) and `pbkdf2Sync`.
//!
//! Implementation: OpenSSL's `PKCS5_PBKDF2_HMAC` (the `openssl` crate over the system's
//! libcrypto), the function Node 20 calls in the OpenSSL it bundles (3.0.19 in both here), so
//! a hash costs the two runtimes nearly the same on any processor. Measured on one thread here
//! (10,000 iterations, 32-byte key, 200 hashes, three rounds each, alternated): Node 5.10-5.29
//! ms, this 5.53-5.71 ms (Debian's build of the same source), RustCrypto's `pbkdf2` + `sha2`
//! 4.22-4.39 ms. RustCrypto, used before, matched Node on another machine (47.0 against 47.1
//! ms for 100,000 iterations) but not on this one, where every hashing point of a sweep ran
//! 1.18-1.30 times Node's throughput whatever the costs charged.

use std::sync::OnceLock;

use openssl::hash::MessageDigest;

use crate::costs::{self, Event};
use crate::{EventLoop, RuntimeError, WorkSpec};

/// Node's upper bound for iterations, key, password and salt lengths (`INT_MAX`).
const INT_MAX: u64 = i32::MAX as u64;

fn check(
    password: &[u8],
    salt: &[u8],
    iterations: u64,
    keylen: usize,
) -> Result<u32, RuntimeError> {
    if !(1..=INT_MAX).contains(&iterations) {
        return Err(RuntimeError::Pbkdf2Iterations(iterations));
    }
    if keylen as u64 > INT_MAX {
        return Err(RuntimeError::Pbkdf2KeyLength(keylen));
    }
    for (what, bytes) in [("password", password), ("salt", salt)] {
        if bytes.len() as u64 > INT_MAX {
            return Err(RuntimeError::Pbkdf2InputLength {
                what,
                len: bytes.len(),
            });
        }
    }
    usable()?;
    Ok(iterations as u32)
}

/// Whether this process' libcrypto derives keys at all (it does not when, say, `OPENSSL_CONF`
/// names a configuration that fails to load its default provider): asked once, so that a
/// broken library is an error where the hash is asked for, as Node throws, not on the pool.
fn usable() -> Result<(), RuntimeError> {
    static USABLE: OnceLock<Result<(), RuntimeError>> = OnceLock::new();
    USABLE
        .get_or_init(|| derive(b"a", b"b", 1, 1).map(drop))
        .clone()
}

/// The hash itself, `keylen` bytes (none asked, none derived: Node returns an empty key).
fn derive(
    password: &[u8],
    salt: &[u8],
    rounds: u32,
    keylen: usize,
) -> Result<Vec<u8>, RuntimeError> {
    let mut key = vec![0u8; keylen];
    if keylen > 0 {
        openssl::pkcs5::pbkdf2_hmac(
            password,
            salt,
            rounds as usize,
            MessageDigest::sha512(),
            &mut key,
        )
        .map_err(|e| RuntimeError::Pbkdf2Library(e.to_string()))?;
    }
    Ok(key)
}

/// `crypto.pbkdf2Sync(password, salt, iterations, keylen, 'sha512')`, on the calling thread.
pub fn pbkdf2_sync(
    password: &[u8],
    salt: &[u8],
    iterations: u64,
    keylen: usize,
) -> Result<Vec<u8>, RuntimeError> {
    let rounds = check(password, salt, iterations, keylen)?;
    derive(password, salt, rounds, keylen)
}

/// `crypto.pbkdf2(password, salt, iterations, keylen, 'sha512', callback)`: hashes on the pool
/// and calls `callback` with the key on this loop. Arguments are checked before anything is
/// queued, as Node throws synchronously.
pub fn pbkdf2(
    lp: &EventLoop,
    password: &[u8],
    salt: &[u8],
    iterations: u64,
    keylen: usize,
    callback: impl FnOnce(&EventLoop, Vec<u8>) + 'static,
) -> Result<(), RuntimeError> {
    let rounds = check(password, salt, iterations, keylen)?;
    let (password, salt) = (password.to_vec(), salt.to_vec());
    lp.queue_work(
        WorkSpec::cpu("pbkdf2"),
        // `check` derived a key in this process already; what can still fail is an allocation
        // inside libcrypto, which the pool reports as the task's panic.
        move || derive(&password, &salt, rounds, keylen).expect("libcrypto derived a key before"),
        |lp, key| {
            costs::charge(Event::CryptoCompletion);
            callback(lp, key)
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_test_vector() {
        // RFC 7914 section 11 uses PBKDF2-HMAC-SHA256; for SHA-512 the widely published vector
        // for ("password", "salt", 1 iteration) starts with 867f70cf.
        let key = pbkdf2_sync(b"password", b"salt", 1, 64).unwrap();
        assert_eq!(&key[..4], &[0x86, 0x7f, 0x70, 0xcf]);
    }

    #[test]
    fn gives_the_key_node_gives() {
        // node -e "console.log(require('crypto').pbkdf2Sync('password', 'salt', 1000, 32,
        //   'sha512').toString('hex'))"
        let key = pbkdf2_sync(b"password", b"salt", 1000, 32).unwrap();
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "afe6c5530785b6cc6b1c6453384731bd5ee432ee549fd42fb6695779ad8a1c5b"
        );
    }

    #[test]
    fn rejects_what_node_rejects() {
        assert_eq!(
            pbkdf2_sync(b"a", b"b", 0, 64),
            Err(RuntimeError::Pbkdf2Iterations(0))
        );
        assert!(pbkdf2_sync(b"a", b"b", INT_MAX + 1, 64).is_err());
        assert_eq!(pbkdf2_sync(b"a", b"b", 1, 0).unwrap(), Vec::<u8>::new());
    }
}
