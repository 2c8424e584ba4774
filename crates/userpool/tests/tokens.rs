//! Tokens: claims, JWKS verification, discovery, refresh, revocation, global sign-out, key
//! rotation and the identity-pool seam.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

async fn jwks(t: &T, pool: &str, now: i64) -> jsonwebtoken::jwk::JwkSet {
    let r =
        t.up.well_known(&format!("/{pool}/.well-known/jwks.json"), now)
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    serde_json::from_slice(r.body()).unwrap()
}

fn verify(set: &jsonwebtoken::jwk::JwkSet, token: &str, aud: Option<&str>, iss: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[iss]);
    match aud {
        Some(a) => v.set_audience(&[a]),
        None => v.validate_aud = false,
    }
    v.leeway = 0;
    // The tokens are minted at the fixed test time; check exp against it, not the wall clock.
    v.validate_exp = false;
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .unwrap()
        .claims
}

#[tokio::test]
async fn token_claims_and_jwks() {
    let t = setup().await;
    let (pool, client) = t
        .pool_and_client(json!({}), json!({"IdTokenValidity": 2}))
        .await;
    t.user(
        &pool,
        "nina",
        "Passw0rd!",
        json!([{"Name": "email", "Value": "nina@example.com"},
        {"Name": "email_verified", "Value": "true"}, {"Name": "name", "Value": "Nina"}]),
    )
    .await;
    let r = t
        .srp_sign_in(&pool, &client, "nina", "Passw0rd!", None, NOW)
        .await
        .ok();
    let res = &r["AuthenticationResult"];
    let iss = format!("{PUBLIC_URL}/{pool}");
    let set = jwks(&t, &pool, NOW).await;
    assert_eq!(set.keys.len(), 1);
    let id = verify(&set, res["IdToken"].as_str().unwrap(), Some(&client), &iss);
    assert!(uuid::Uuid::parse_str(id["sub"].as_str().unwrap()).is_ok());
    assert_eq!(id["aud"], client);
    assert_eq!(id["token_use"], "id");
    assert_eq!(id["cognito:username"], "nina");
    assert_eq!(id["email"], "nina@example.com");
    assert_eq!(id["email_verified"], json!(true));
    assert_eq!(id["name"], "Nina");
    assert_eq!(id["iat"], NOW);
    assert_eq!(id["auth_time"], NOW);
    assert_eq!(id["exp"], NOW + 7200);
    for k in ["jti", "origin_jti", "event_id"] {
        assert!(
            uuid::Uuid::parse_str(id[k].as_str().unwrap()).is_ok(),
            "{k}"
        );
    }
    let access = verify(&set, res["AccessToken"].as_str().unwrap(), None, &iss);
    assert_eq!(access["token_use"], "access");
    assert_eq!(access["client_id"], client);
    assert!(access.get("aud").is_none());
    assert_eq!(access["username"], "nina");
    assert_eq!(access["scope"], "aws.cognito.signin.user.admin");
    assert_eq!(access["sub"], id["sub"]);
    assert_eq!(access["origin_jti"], id["origin_jti"]);
    assert_eq!(access["exp"], NOW + 3600);
    let header = jsonwebtoken::decode_header(res["IdToken"].as_str().unwrap()).unwrap();
    assert!(header.typ.is_none());

    // Tampered token: the signature no longer verifies.
    let tok = res["IdToken"].as_str().unwrap();
    let mut parts: Vec<String> = tok.split('.').map(str::to_owned).collect();
    let mut c = claims(tok);
    c["sub"] = json!("someone-else");
    use base64::Engine as _;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
    let forged = parts.join(".");
    let jwk = set.keys.first().unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_aud = false;
    v.validate_exp = false;
    assert!(
        jsonwebtoken::decode::<Value>(&forged, &DecodingKey::from_jwk(jwk).unwrap(), &v).is_err()
    );
    // An ID token in place of an access token.
    t.call("GetUser", json!({"AccessToken": tok}))
        .await
        .err("NotAuthorizedException", "Invalid Access Token");
    // Expired access token.
    t.call_at(
        "GetUser",
        json!({"AccessToken": res["AccessToken"]}),
        NOW + 3601,
    )
    .await
    .err("NotAuthorizedException", "Access Token has expired");
}

#[tokio::test]
async fn discovery_documents() {
    let t = setup().await;
    let (pool, _) = t.pool_and_client(json!({}), json!({})).await;
    let r =
        t.up.well_known(&format!("/{pool}/.well-known/openid-configuration"), NOW)
            .await
            .unwrap();
    let d: Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(d["issuer"], format!("{PUBLIC_URL}/{pool}"));
    assert_eq!(
        d["jwks_uri"],
        format!("{PUBLIC_URL}/{pool}/.well-known/jwks.json")
    );
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
    let r =
        t.up.well_known("/us-east-1_Missing99/.well-known/jwks.json", NOW)
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        t.up.well_known("/bucket/.well-known/jwks.json", NOW)
            .await
            .is_none()
    );
    assert!(
        t.up.well_known(&format!("/{pool}/.well-known/other"), NOW)
            .await
            .is_none()
    );
    assert!(cubby_userpool::UserPools::is_well_known_path(&format!(
        "/{pool}/.well-known/jwks.json"
    )));
    assert!(!cubby_userpool::UserPools::is_well_known_path(
        "/my-bucket/key"
    ));
}

#[tokio::test]
async fn refresh_tokens_expire_and_revoke() {
    let t = setup().await;
    let (pool, client) = t
        .pool_and_client(json!({}), json!({"RefreshTokenValidity": 1}))
        .await;
    t.user(&pool, "omar", "Passw0rd!", json!([])).await;
    let r = t
        .srp_sign_in(&pool, &client, "omar", "Passw0rd!", None, NOW)
        .await
        .ok();
    let refresh = r["AuthenticationResult"]["RefreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = claims(r["AuthenticationResult"]["IdToken"].as_str().unwrap());

    let r2 = t
        .call_at(
            "InitiateAuth",
            json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": client,
            "AuthParameters": {"REFRESH_TOKEN": refresh}}),
            NOW + 100,
        )
        .await
        .ok();
    assert!(r2["AuthenticationResult"].get("RefreshToken").is_none());
    let again = claims(r2["AuthenticationResult"]["IdToken"].as_str().unwrap());
    assert_eq!(again["origin_jti"], first["origin_jti"]);
    assert_eq!(again["auth_time"], NOW);
    assert_eq!(again["iat"], NOW + 100);
    let r3 = t
        .call_at(
            "GetTokensFromRefreshToken",
            json!({"ClientId": client, "RefreshToken": refresh}),
            NOW + 200,
        )
        .await
        .ok();
    assert!(r3["AuthenticationResult"]["AccessToken"].is_string());
    // Another client cannot use it.
    let c2 = t
        .admin(
            "CreateUserPoolClient",
            json!({"UserPoolId": pool, "ClientName": "other"}),
        )
        .await
        .ok();
    let other = c2["UserPoolClient"]["ClientId"].as_str().unwrap();
    t.call(
        "GetTokensFromRefreshToken",
        json!({"ClientId": other, "RefreshToken": refresh}),
    )
    .await
    .err("NotAuthorizedException", "Invalid Refresh Token");
    t.call(
        "GetTokensFromRefreshToken",
        json!({"ClientId": client, "RefreshToken": "bogus"}),
    )
    .await
    .err("NotAuthorizedException", "Invalid Refresh Token");
    // Expired (validity 1 day).
    t.call_at(
        "GetTokensFromRefreshToken",
        json!({"ClientId": client, "RefreshToken": refresh}),
        NOW + 86_401,
    )
    .await
    .err("NotAuthorizedException", "Refresh Token has expired");
    // RevokeToken revokes the family: the refresh token and the access tokens it issued.
    let access = r3["AuthenticationResult"]["AccessToken"].clone();
    t.call("GetUser", json!({"AccessToken": access})).await.ok();
    t.call("RevokeToken", json!({"ClientId": client, "Token": access}))
        .await
        .err("UnsupportedTokenTypeException", "");
    t.call("RevokeToken", json!({"ClientId": client, "Token": refresh}))
        .await
        .ok();
    t.call(
        "GetTokensFromRefreshToken",
        json!({"ClientId": client, "RefreshToken": refresh}),
    )
    .await
    .err("NotAuthorizedException", "Refresh Token has been revoked");
    t.call("GetUser", json!({"AccessToken": access}))
        .await
        .err("NotAuthorizedException", "Access Token has been revoked");
    assert!(t.up.is_token_revoked(&pool, &first).await);
    // A new sign-in is a new family and works.
    let r = t
        .srp_sign_in(&pool, &client, "omar", "Passw0rd!", None, NOW)
        .await
        .ok();
    let fresh = claims(r["AuthenticationResult"]["IdToken"].as_str().unwrap());
    assert!(!t.up.is_token_revoked(&pool, &fresh).await);
    // Deleted and disabled users' tokens are revoked.
    t.admin(
        "AdminDisableUser",
        json!({"UserPoolId": pool, "Username": "omar"}),
    )
    .await
    .ok();
    assert!(t.up.is_token_revoked(&pool, &fresh).await);
    t.call(
        "GetUser",
        json!({"AccessToken": r["AuthenticationResult"]["AccessToken"]}),
    )
    .await
    .err("NotAuthorizedException", "User is disabled.");
    t.admin(
        "AdminEnableUser",
        json!({"UserPoolId": pool, "Username": "omar"}),
    )
    .await
    .ok();
    assert!(!t.up.is_token_revoked(&pool, &fresh).await);
    t.admin(
        "AdminDeleteUser",
        json!({"UserPoolId": pool, "Username": "omar"}),
    )
    .await
    .ok();
    assert!(t.up.is_token_revoked(&pool, &fresh).await);
    // Sweeping removes revocation markers only once their tokens expired.
    assert_eq!(t.up.sweep(NOW).await.unwrap(), 0);
    assert!(t.up.sweep(NOW + 2 * 86_400).await.unwrap() >= 1);
}

#[tokio::test]
async fn global_sign_out_revokes_everything_before_it() {
    let t = setup().await;
    let (pool, client) = t.pool_and_client(json!({}), json!({})).await;
    t.user(&pool, "pia", "Passw0rd!", json!([])).await;
    let a = t
        .srp_sign_in(&pool, &client, "pia", "Passw0rd!", None, NOW)
        .await
        .ok();
    let b = t
        .srp_sign_in(&pool, &client, "pia", "Passw0rd!", None, NOW)
        .await
        .ok();
    t.call(
        "GlobalSignOut",
        json!({"AccessToken": a["AuthenticationResult"]["AccessToken"]}),
    )
    .await
    .ok();
    for s in [&a, &b] {
        let res = &s["AuthenticationResult"];
        t.call("GetUser", json!({"AccessToken": res["AccessToken"]}))
            .await
            .err("NotAuthorizedException", "Access Token has been revoked");
        t.call(
            "GetTokensFromRefreshToken",
            json!({"ClientId": client, "RefreshToken": res["RefreshToken"]}),
        )
        .await
        .err("NotAuthorizedException", "Refresh Token has been revoked");
        assert!(
            t.up.is_token_revoked(&pool, &claims(res["IdToken"].as_str().unwrap()))
                .await
        );
    }
    // Signing in again right away (same second) works.
    let c = t
        .srp_sign_in(&pool, &client, "pia", "Passw0rd!", None, NOW)
        .await
        .ok();
    t.call(
        "GetUser",
        json!({"AccessToken": c["AuthenticationResult"]["AccessToken"]}),
    )
    .await
    .ok();
    // The admin variant.
    t.admin(
        "AdminUserGlobalSignOut",
        json!({"UserPoolId": pool, "Username": "pia"}),
    )
    .await
    .ok();
    t.call(
        "GetUser",
        json!({"AccessToken": c["AuthenticationResult"]["AccessToken"]}),
    )
    .await
    .err("NotAuthorizedException", "Access Token has been revoked");
}

#[tokio::test]
async fn identity_pool_seam_and_key_rotation() {
    let t = setup().await;
    let (pool, client) = t.pool_and_client(json!({}), json!({})).await;
    t.user(&pool, "quinn", "Passw0rd!", json!([])).await;
    let provider = format!("127.0.0.1:9300/{pool}");
    let li = t.up.local_issuer_at(&provider, NOW).await.unwrap();
    assert_eq!(li.issuer, format!("{PUBLIC_URL}/{pool}"));
    assert_eq!(li.client_ids, vec![client.clone()]);
    assert_eq!(li.jwks.keys.len(), 1);
    assert!(
        t.up.local_issuer_at(&format!("cognito-idp.us-east-1.amazonaws.com/{pool}"), NOW)
            .await
            .is_none()
    );
    assert!(
        t.up.local_issuer_at("127.0.0.1:9300/us-east-1_Missing99", NOW)
            .await
            .is_none()
    );
    assert!(t.up.local_issuer_at("127.0.0.1:9300", NOW).await.is_none());

    let r = t
        .srp_sign_in(&pool, &client, "quinn", "Passw0rd!", None, NOW)
        .await
        .ok();
    let old_id = r["AuthenticationResult"]["IdToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_kid = jsonwebtoken::decode_header(&old_id).unwrap().kid.unwrap();
    let new_kid = t.up.rotate_signing_key(&pool, NOW).await.unwrap();
    assert_ne!(old_kid, new_kid);
    let set = jwks(&t, &pool, NOW + 10).await;
    assert_eq!(set.keys.len(), 2, "the retired key stays published");
    verify(&set, &old_id, Some(&client), &li.issuer);
    let r = t
        .srp_sign_in(&pool, &client, "quinn", "Passw0rd!", None, NOW + 10)
        .await
        .ok();
    let new_id = r["AuthenticationResult"]["IdToken"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(new_id).unwrap().kid.unwrap(),
        new_kid
    );
    verify(&set, new_id, Some(&client), &li.issuer);
    // Old access tokens still work for GetUser until they expire.
    // After a day the old key is gone.
    let later = jwks(&t, &pool, NOW + 86_401).await;
    assert_eq!(later.keys.len(), 1);
    assert_eq!(
        later.keys[0].common.key_id.as_deref(),
        Some(new_kid.as_str())
    );
}
