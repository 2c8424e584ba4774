//! JSON Web Tokens: verification of ID tokens from OIDC issuers (RS*/PS*/ES* only, by `kid`
//! from a JWKS, with `iss`/`aud`/`azp`/`exp`/`nbf`/`iat`/`token_use` checks done here against
//! the `now` parameter), and the identity pools' own RS256 signing key.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

/// Issuer of the identity pools' own tokens.
pub const COGNITO_ISSUER: &str = "https://cognito-identity.amazonaws.com";
/// Provider name of the identity pools' own tokens (Logins key, trust-policy principal).
pub const COGNITO_PROVIDER: &str = "cognito-identity.amazonaws.com";

/// Allowed clock skew for `nbf` / `iat` in the future.
const FUTURE_SKEW: i64 = 300;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a JWT, or its header/payload is not JSON.
    #[error("Invalid login token. Not a valid OpenId Connect identity token.")]
    Malformed,
    /// `alg` is not RS*/PS*/ES* (e.g. `none`, `HS256`).
    #[error("Invalid login token. Unsupported token signing algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// No key with the token's `kid`.
    #[error("Invalid login token. Couldn't verify signed token.")]
    UnknownKey,
    /// The signature does not verify.
    #[error("Invalid login token. Couldn't verify signed token.")]
    BadSignature,
    /// `iss` differs.
    #[error("Invalid login token. Issuer doesn't match providerName")]
    WrongIssuer,
    /// `aud`/`azp` not among the allowed client ids.
    #[error("Invalid login token. Incorrect token audience.")]
    WrongAudience,
    /// A required claim is absent.
    #[error("Invalid login token. Missing a required claim: {0}")]
    MissingClaim(&'static str),
    /// Past `exp` (plus grace).
    #[error("Invalid login token. Token expired: {exp} >= {now}")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// Server time.
        now: i64,
    },
    /// `nbf`/`iat` in the future.
    #[error("Invalid login token. Token is not valid yet.")]
    NotYetValid,
    /// `token_use` is not `id`.
    #[error("Invalid login token. Token is not an ID token.")]
    NotIdToken,
}

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// Exact `iss`.
    pub issuer: &'a str,
    /// Allowed `aud`/`azp` values; `None` = not checked here.
    pub audiences: Option<&'a [String]>,
    /// Seconds of grace after `exp`.
    pub exp_grace: i64,
    /// Require `token_use: id` (user pools).
    pub id_token: bool,
}

fn alg_name(token: &str) -> Option<String> {
    use base64::Engine as _;
    let head = token.split('.').next()?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    v.get("alg")?.as_str().map(str::to_owned)
}

/// The header and the **unverified** claims, to find out who issued a token.
pub fn peek(token: &str) -> Result<Map<String, Value>, JwtError> {
    use base64::Engine as _;
    let mut it = token.split('.');
    let (Some(_), Some(payload), Some(_), None) = (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(JwtError::Malformed);
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| JwtError::Malformed)?;
    match serde_json::from_slice(&raw) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(JwtError::Malformed),
    }
}

fn accepted(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
            | Algorithm::ES256
            | Algorithm::ES384
    )
}

fn int_claim(m: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or(JwtError::Malformed),
    }
}

/// String values of a claim that may be a string or an array of strings.
pub fn claim_strings(m: &Map<String, Value>, name: &str) -> Vec<String> {
    match m.get(name) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Verify `token` against `jwks` and `expect` at time `now`; returns its claims.
pub fn verify(
    token: &str,
    jwks: &JwkSet,
    expect: &Expect<'_>,
    now: i64,
) -> Result<Map<String, Value>, JwtError> {
    if token.len() > 20_000 {
        return Err(JwtError::Malformed);
    }
    let header: Header = jsonwebtoken::decode_header(token).map_err(|_| match alg_name(token) {
        Some(a) => JwtError::UnsupportedAlgorithm(a),
        None => JwtError::Malformed,
    })?;
    if !accepted(header.alg) {
        return Err(JwtError::UnsupportedAlgorithm(format!("{:?}", header.alg)));
    }
    let jwk: &Jwk = match &header.kid {
        Some(kid) => jwks.find(kid).ok_or(JwtError::UnknownKey)?,
        None => match jwks.keys.as_slice() {
            [only] => only,
            _ => return Err(JwtError::UnknownKey),
        },
    };
    if let Some(key_alg) = jwk.common.key_algorithm
        && format!("{key_alg:?}") != format!("{:?}", header.alg)
    {
        return Err(JwtError::BadSignature);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| JwtError::UnknownKey)?;
    let mut v = Validation::new(header.alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.leeway = 0;
    v.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => JwtError::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => JwtError::BadSignature,
            ErrorKind::InvalidKeyFormat
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidEcdsaKey => JwtError::UnknownKey,
            _ => JwtError::Malformed,
        }
    })?;
    let claims = data.claims;
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == expect.issuer => {}
        Some(_) => return Err(JwtError::WrongIssuer),
        None => return Err(JwtError::MissingClaim("iss")),
    }
    let exp = int_claim(&claims, "exp")?.ok_or(JwtError::MissingClaim("exp"))?;
    if now >= exp.saturating_add(expect.exp_grace) {
        return Err(JwtError::Expired { exp, now });
    }
    if let Some(nbf) = int_claim(&claims, "nbf")?
        && nbf > now + FUTURE_SKEW
    {
        return Err(JwtError::NotYetValid);
    }
    if let Some(iat) = int_claim(&claims, "iat")?
        && iat > now + FUTURE_SKEW
    {
        return Err(JwtError::NotYetValid);
    }
    if let Some(allowed) = expect.audiences {
        let azp = claim_strings(&claims, "azp");
        let aud = claim_strings(&claims, "aud");
        if aud.is_empty() && azp.is_empty() {
            return Err(JwtError::MissingClaim("aud"));
        }
        let presented = if azp.is_empty() { aud } else { azp };
        if !presented.iter().any(|a| allowed.contains(a)) {
            return Err(JwtError::WrongAudience);
        }
    }
    if expect.id_token && claims.get("token_use").and_then(Value::as_str) != Some("id") {
        return Err(JwtError::NotIdToken);
    }
    Ok(claims)
}

/// The identity pools' own RS256 signing key.
pub struct Signer {
    kid: String,
    encoding: EncodingKey,
    jwks: JwkSet,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Key-material errors.
#[derive(Debug, thiserror::Error)]
#[error("signing key: {0}")]
pub struct KeyError(pub String);

impl Signer {
    /// Build from a PKCS#1 DER RSA private key.
    pub fn from_pkcs1_der(kid: &str, der: &[u8]) -> Result<Self, KeyError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPrivateKey::from_pkcs1_der(der).map_err(|e| KeyError(e.to_string()))?;
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let jwk = serde_json::json!({
            "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": b64.encode(key.n().to_bytes_be()),
            "e": b64.encode(key.e().to_bytes_be()),
        });
        let jwk: Jwk = serde_json::from_value(jwk).map_err(|e| KeyError(e.to_string()))?;
        Ok(Signer {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_rsa_der(der),
            jwks: JwkSet { keys: vec![jwk] },
        })
    }

    /// Generate a fresh 2048-bit key; returns the signer and its PKCS#1 DER (CPU-heavy: call
    /// off the async runtime).
    pub fn generate(kid: &str) -> Result<(Self, Vec<u8>), KeyError> {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let mut rng = rand::thread_rng();
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| KeyError(e.to_string()))?;
        let der = key
            .to_pkcs1_der()
            .map_err(|e| KeyError(e.to_string()))?
            .as_bytes()
            .to_vec();
        Ok((Self::from_pkcs1_der(kid, &der)?, der))
    }

    /// The public keys (JWKS).
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Sign `claims` (RS256, `kid` set, `typ: JWS` as Cognito does).
    pub fn sign(&self, claims: &Value) -> Result<String, KeyError> {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(self.kid.clone());
        h.typ = Some("JWS".into());
        jsonwebtoken::encode(&h, claims, &self.encoding).map_err(|e| KeyError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::OnceLock;

    fn signer() -> &'static (Signer, Vec<u8>) {
        static S: OnceLock<(Signer, Vec<u8>)> = OnceLock::new();
        S.get_or_init(|| {
            let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
            Signer::generate("k1").unwrap()
        })
    }

    fn claims(now: i64) -> Value {
        json!({"iss": "https://issuer.example", "sub": "u1", "aud": "client-a",
               "exp": now + 600, "iat": now, "token_use": "id"})
    }

    fn expect(aud: &[String]) -> Expect<'_> {
        Expect {
            issuer: "https://issuer.example",
            audiences: Some(aud),
            exp_grace: 0,
            id_token: true,
        }
    }

    #[test]
    fn accepts_a_valid_token() {
        let (s, _) = signer();
        let now = 1_700_000_000;
        let t = s.sign(&claims(now)).unwrap();
        let aud = vec!["client-a".to_string()];
        let c = verify(&t, s.jwks(), &expect(&aud), now).unwrap();
        assert_eq!(c.get("sub").and_then(Value::as_str), Some("u1"));
        assert_eq!(
            peek(&t).unwrap().get("iss").and_then(Value::as_str),
            Some("https://issuer.example")
        );
    }

    #[test]
    fn rejects_bad_tokens() {
        use base64::Engine as _;
        let (s, _) = signer();
        let now = 1_700_000_000;
        let aud = vec!["client-a".to_string()];
        let good = s.sign(&claims(now)).unwrap();
        // expired (and the grace window)
        assert!(matches!(
            verify(&good, s.jwks(), &expect(&aud), now + 600),
            Err(JwtError::Expired { .. })
        ));
        let mut graced = expect(&aud);
        graced.exp_grace = 300;
        assert!(verify(&good, s.jwks(), &graced, now + 800).is_ok());
        // wrong audience / issuer
        let other = vec!["client-b".to_string()];
        assert_eq!(
            verify(&good, s.jwks(), &expect(&other), now),
            Err(JwtError::WrongAudience)
        );
        let mut iss = expect(&aud);
        iss.issuer = "https://other.example";
        assert_eq!(
            verify(&good, s.jwks(), &iss, now),
            Err(JwtError::WrongIssuer)
        );
        // tampered payload
        let parts: Vec<&str> = good.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut c = claims(now);
        c["sub"] = json!("someone-else");
        let forged = format!("{}.{}.{}", parts[0], b64.encode(c.to_string()), parts[2]);
        assert_eq!(
            verify(&forged, s.jwks(), &expect(&aud), now),
            Err(JwtError::BadSignature)
        );
        // alg none
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","kid":"k1"}"#),
            b64.encode(claims(now).to_string())
        );
        assert!(matches!(
            verify(&none, s.jwks(), &expect(&aud), now),
            Err(JwtError::UnsupportedAlgorithm(_))
        ));
        // HS256 "signed" with the public key
        let n = s.jwks().keys[0].clone();
        let pub_json = serde_json::to_vec(&n).unwrap();
        let hs = jsonwebtoken::encode(
            &Header {
                kid: Some("k1".into()),
                ..Header::new(Algorithm::HS256)
            },
            &claims(now),
            &EncodingKey::from_secret(&pub_json),
        )
        .unwrap();
        assert!(matches!(
            verify(&hs, s.jwks(), &expect(&aud), now),
            Err(JwtError::UnsupportedAlgorithm(_))
        ));
        // unknown kid
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some("nope".into());
        let (_, der) = signer();
        let t = jsonwebtoken::encode(&h, &claims(now), &EncodingKey::from_rsa_der(der)).unwrap();
        assert_eq!(
            verify(&t, s.jwks(), &expect(&aud), now),
            Err(JwtError::UnknownKey)
        );
        // access token (token_use: access)
        let mut c = claims(now);
        c["token_use"] = json!("access");
        let t = s.sign(&c).unwrap();
        assert_eq!(
            verify(&t, s.jwks(), &expect(&aud), now),
            Err(JwtError::NotIdToken)
        );
        // azp wins over aud
        let mut c = claims(now);
        c["aud"] = json!(["x", "y"]);
        c["azp"] = json!("client-a");
        let t = s.sign(&c).unwrap();
        assert!(verify(&t, s.jwks(), &expect(&aud), now).is_ok());
        // not yet valid
        let mut c = claims(now);
        c["nbf"] = json!(now + 3600);
        let t = s.sign(&c).unwrap();
        assert_eq!(
            verify(&t, s.jwks(), &expect(&aud), now),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            verify("garbage", s.jwks(), &expect(&aud), now),
            Err(JwtError::Malformed)
        );
    }
}
