//! The JSON Web Token a GitHub App authenticates with: RS256 over
//! `{"iat", "exp", "iss"}`, signed with the app's private key.
//!
//! Signed with `ring`, the crypto library the HTTPS client already links
//! (through rustls), so JWTs cost no crate of their own.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use std::fmt;

/// GitHub refuses a JWT whose `exp` is more than 10 minutes ahead; `iat` is
/// set 60 s in the past against clock drift, so the token lives 9 minutes.
pub const BACKDATE_SECS: u64 = 60;
pub const LIFETIME_SECS: u64 = 9 * 60;

/// Why the key cannot sign. The texts are fixed: nothing of the key is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub &'static str);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Parse a PEM private key: PKCS#1 (`RSA PRIVATE KEY`, what GitHub gives you)
/// or PKCS#8 (`PRIVATE KEY`).
pub fn key_pair(pem: &str) -> Result<RsaKeyPair, KeyError> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| KeyError("it is not a PEM private key (or its base64 is damaged)"))?;
    let pair = match &der {
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
        PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        _ => return Err(KeyError("it is not an RSA key (GitHub App keys are RSA)")),
    };
    pair.map_err(|_| KeyError("it is not a usable RSA private key of 2048 bits or more"))
}

/// `iss`: a numeric app id as a JSON number, a client id (`Iv23li…`) as a string.
fn issuer(app_id: &str) -> serde_json::Value {
    match app_id.parse::<u64>() {
        Ok(n) => n.into(),
        Err(_) => app_id.into(),
    }
}

/// The JWT for `app_id`, issued at `now` (seconds since the epoch) minus
/// [`BACKDATE_SECS`].
pub fn app_jwt(app_id: &str, pem: &str, now: u64) -> Result<String, KeyError> {
    let key = key_pair(pem)?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let iat = now.saturating_sub(BACKDATE_SECS);
    let claims = serde_json::json!({
        "iat": iat,
        "exp": iat + LIFETIME_SECS,
        "iss": issuer(app_id),
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{claims}");
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| KeyError("signing with it failed"))?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::fake::{test_key, verify_jwt};

    #[test]
    fn signs_a_jwt_that_verifies_with_the_public_key() {
        let pem = test_key(1);
        let jwt = app_jwt("123456", &pem, 1_700_000_000).unwrap();
        let public = crate::github::fake::public_key(&pem);
        let claims = verify_jwt(&jwt, &public, 1_700_000_000).unwrap();
        assert_eq!(claims["iss"], 123456);
        assert_eq!(claims["iat"], 1_700_000_000 - 60);
        assert_eq!(claims["exp"], 1_700_000_000 - 60 + 540);
        // Another key's public half does not verify it.
        let other = crate::github::fake::public_key(&test_key(2));
        assert!(verify_jwt(&jwt, &other, 1_700_000_000).is_err());
        // A client id is a string issuer.
        let jwt = app_jwt("Iv23liAbC", &pem, 1_700_000_000).unwrap();
        assert_eq!(
            verify_jwt(&jwt, &public, 1_700_000_000).unwrap()["iss"],
            "Iv23liAbC"
        );
    }

    #[test]
    fn pkcs8_keys_work_too() {
        // The same key wrapped as PKCS#8: the PKCS#1 DER inside a
        // PrivateKeyInfo with the rsaEncryption algorithm identifier.
        let pem = test_key(1);
        let der = match PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap() {
            PrivateKeyDer::Pkcs1(k) => k.secret_pkcs1_der().to_vec(),
            _ => unreachable!(),
        };
        let pkcs8 = wrap_pkcs8(&der);
        let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8);
        let armored = format!(
            "-----BEGIN {l}-----\n{b64}\n-----END {l}-----\n",
            l = "PRIVATE KEY"
        );
        let jwt = app_jwt("1", &armored, 1_000).unwrap();
        assert!(verify_jwt(&jwt, &crate::github::fake::public_key(&pem), 1_000).is_ok());
    }

    fn der_len(n: usize) -> Vec<u8> {
        if n < 128 {
            vec![n as u8]
        } else if n < 256 {
            vec![0x81, n as u8]
        } else {
            vec![0x82, (n >> 8) as u8, n as u8]
        }
    }

    fn wrap_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
        let mut body = vec![0x02, 0x01, 0x00]; // version 0
        // AlgorithmIdentifier { rsaEncryption, NULL }
        body.extend([
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ]);
        body.push(0x04);
        body.extend(der_len(pkcs1.len()));
        body.extend(pkcs1);
        let mut out = vec![0x30];
        out.extend(der_len(body.len()));
        out.extend(body);
        out
    }

    #[test]
    fn bad_keys_are_named_without_showing_them() {
        let e = app_jwt("1", "not a key", 0).unwrap_err();
        assert!(e.to_string().contains("not a PEM private key"), "{e}");
        let broken = concat!(
            "-----BEGIN RSA ",
            "PRIVATE KEY-----\nTUlJRW93SUJBQUtDQVFFQXh3\n-----END RSA ",
            "PRIVATE KEY-----\n"
        );
        let e = app_jwt("1", broken, 0).unwrap_err();
        assert!(
            e.to_string().contains("not a usable RSA private key"),
            "{e}"
        );
        assert!(!e.to_string().contains("TUlJ"));
    }
}
