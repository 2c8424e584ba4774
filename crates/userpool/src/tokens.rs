//! RS256 ID and access tokens, per-pool signing keys (wrapped by the master key), the JWKS.

use crate::error::Error;
use crate::model::{PoolDoc, SigningKeyDoc};
use crate::seal::Sealer;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// RSA modulus size of the signing keys.
pub const RSA_BITS: usize = 2048;
/// Longest token the verifier looks at.
pub const MAX_JWT_LEN: usize = 16 * 1024;

fn key_aad(pool_id: &str, kid: &str) -> Vec<u8> {
    format!("{pool_id}/{kid}").into_bytes()
}

/// Generate a signing key for `pool_id` and seal its private half (blocking: RSA key generation).
pub(crate) fn generate_key(
    sealer: &Sealer,
    pool_id: &str,
    now: i64,
) -> Result<SigningKeyDoc, Error> {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
        .map_err(|e| Error::Crypto(format!("RSA key generation: {e}")))?;
    let der = key
        .to_pkcs1_der()
        .map_err(|e| Error::Crypto(format!("RSA key encoding: {e}")))?;
    let n = key.n().to_bytes_be();
    let e = key.e().to_bytes_be();
    let kid = STANDARD.encode(Sha256::digest(&n));
    let sealed_private = sealer.seal_url(&key_aad(pool_id, &kid), der.as_bytes());
    Ok(SigningKeyDoc {
        kid,
        n: URL_SAFE_NO_PAD.encode(&n),
        e: URL_SAFE_NO_PAD.encode(&e),
        sealed_private,
        created: now,
        retired: None,
        publish_until: None,
    })
}

/// A pool's unwrapped signing key, ready to sign tokens.
///
/// RS256 signatures are made with `ring` (assembly Montgomery multiplication, blinded):
/// several times cheaper than the pure-Rust RSA behind `jsonwebtoken`'s signer, which
/// matters because every sign-in signs two tokens.
pub struct TokenSigner {
    header_b64: String,
    key: ring::signature::RsaKeyPair,
    rng: ring::rand::SystemRandom,
}

impl TokenSigner {
    /// A signer for the PKCS#1 DER private key `der`, whose tokens name `kid` in their header.
    pub fn from_pkcs1_der(kid: &str, der: &[u8]) -> Result<Self, Error> {
        let key = ring::signature::RsaKeyPair::from_der(der)
            .map_err(|e| Error::Crypto(format!("RSA signing key {kid}: {e}")))?;
        // Cognito's header: kid first, then alg, no typ.
        let header = format!(r#"{{"kid":{},"alg":"RS256"}}"#, Value::from(kid));
        Ok(TokenSigner {
            header_b64: URL_SAFE_NO_PAD.encode(header),
            key,
            rng: ring::rand::SystemRandom::new(),
        })
    }

    /// The compact JWS of `claims`: `header.payload.signature`, RS256.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, Error> {
        let payload =
            serde_json::to_vec(claims).map_err(|e| Error::Crypto(format!("JWT claims: {e}")))?;
        let mut jwt = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 350);
        jwt.push_str(&self.header_b64);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jwt);
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &self.rng,
                jwt.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::Crypto("JWT signing failed".into()))?;
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut jwt);
        Ok(jwt)
    }
}

/// Unwrap a signing key.
pub(crate) fn signer(
    sealer: &Sealer,
    pool_id: &str,
    k: &SigningKeyDoc,
) -> Result<TokenSigner, Error> {
    let der = sealer
        .open_url(&key_aad(pool_id, &k.kid), &k.sealed_private)
        .ok_or_else(|| {
            Error::Crypto(format!(
                "signing key {} of {pool_id} does not open with this master key",
                k.kid
            ))
        })?;
    TokenSigner::from_pkcs1_der(&k.kid, &der)
}

/// The key that signs new tokens: the newest one not retired.
pub(crate) fn active_key(pool: &PoolDoc) -> Option<&SigningKeyDoc> {
    pool.keys.iter().rev().find(|k| k.retired.is_none())
}

/// Keys published in the JWKS at `now`: the active ones and retired ones until their tokens expired.
pub(crate) fn published_keys(pool: &PoolDoc, now: i64) -> impl Iterator<Item = &SigningKeyDoc> {
    pool.keys
        .iter()
        .filter(move |k| k.publish_until.is_none_or(|t| t > now))
}

/// The JWKS document of a pool.
pub(crate) fn jwks(pool: &PoolDoc, now: i64) -> Value {
    let keys: Vec<Value> = published_keys(pool, now)
        .map(|k| {
            serde_json::json!({
                "alg": "RS256", "e": k.e, "kid": k.kid, "kty": "RSA", "n": k.n, "use": "sig"
            })
        })
        .collect();
    serde_json::json!({ "keys": keys })
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// Malformed, wrong signature, wrong issuer or wrong kind.
    Invalid,
    /// Past `exp`.
    Expired,
}

/// Verify one of this pool's tokens: signature with a published key, `iss`, `token_use`, `exp`.
pub(crate) fn verify(
    pool: &PoolDoc,
    issuer: &str,
    token: &str,
    token_use: &str,
    now: i64,
) -> Result<Map<String, Value>, TokenError> {
    if token.len() > MAX_JWT_LEN {
        return Err(TokenError::Invalid);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
    if header.alg != Algorithm::RS256 {
        return Err(TokenError::Invalid);
    }
    let kid = header.kid.ok_or(TokenError::Invalid)?;
    let k = published_keys(pool, now)
        .find(|k| k.kid == kid)
        .ok_or(TokenError::Invalid)?;
    let dk = DecodingKey::from_rsa_components(&k.n, &k.e).map_err(|_| TokenError::Invalid)?;
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &dk, &v)
        .map_err(|_| TokenError::Invalid)?;
    let claims = data.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer)
        || claims.get("token_use").and_then(Value::as_str) != Some(token_use)
    {
        return Err(TokenError::Invalid);
    }
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp > now => Ok(claims),
        Some(_) => Err(TokenError::Expired),
        None => Err(TokenError::Invalid),
    }
}

/// A token-family id (`origin_jti`): a UUID version 7 whose 48-bit time field carries the
/// family's start in milliseconds, so a global sign-out can revoke every older family without
/// listing them.
pub(crate) fn family_id(ms: i64) -> String {
    let mut b: [u8; 16] = rand::random();
    let ms = ms.max(0) as u64;
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

/// The start time (ms) of a family id made by [`family_id`]; `None` for other shapes.
pub(crate) fn family_time(id: &str) -> Option<i64> {
    let u = uuid::Uuid::parse_str(id).ok()?;
    let b = u.as_bytes();
    if b[6] >> 4 != 7 {
        return None;
    }
    let mut ms = [0u8; 8];
    ms[2..].copy_from_slice(&b[..6]);
    Some(u64::from_be_bytes(ms) as i64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_against_the_public_key_and_carry_cognitos_header() {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS).unwrap();
        let der = key.to_pkcs1_der().unwrap();
        let signer = TokenSigner::from_pkcs1_der("k+1/x=", der.as_bytes()).unwrap();
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::from("u-1"));
        claims.insert("exp".into(), Value::from(4_000_000_000i64));
        let jwt = signer.sign(&claims).unwrap();

        let header = jwt.split('.').next().unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(header).unwrap(),
            br#"{"kid":"k+1/x=","alg":"RS256"}"#
        );
        let public =
            DecodingKey::from_rsa_raw_components(&key.n().to_bytes_be(), &key.e().to_bytes_be());
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        let got = jsonwebtoken::decode::<Map<String, Value>>(&jwt, &public, &validation).unwrap();
        assert_eq!(got.claims, claims);

        // One flipped byte of the payload and the signature no longer holds.
        let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
        let mut payload = URL_SAFE_NO_PAD.decode(&parts[1]).unwrap();
        payload[2] ^= 1;
        parts[1] = URL_SAFE_NO_PAD.encode(payload);
        assert!(
            jsonwebtoken::decode::<Map<String, Value>>(&parts.join("."), &public, &validation)
                .is_err()
        );
    }
}
