//! Sign-up, confirmation, SRP and password sign-in, challenges, throttling, SECRET_HASH.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use serde_json::json;

#[tokio::test]
async fn sign_up_confirm_and_srp_sign_in() {
    let t = setup().await;
    let (pool, client) = t.pool_and_client(json!({}), json!({})).await;
    let r = t
        .call(
            "SignUp",
            json!({"ClientId": client, "Username": "dave", "Password": "Passw0rd!",
            "UserAttributes": [{"Name": "email", "Value": "dave@example.com"}]}),
        )
        .await
        .ok();
    assert_eq!(r["UserConfirmed"], false);
    let sub = r["UserSub"].as_str().unwrap().to_owned();
    assert_eq!(r["CodeDeliveryDetails"]["DeliveryMedium"], "EMAIL");
    assert_eq!(r["CodeDeliveryDetails"]["Destination"], "d***@e***");
    let code = t.last_code();
    assert_eq!(code.username, "dave");
    assert_eq!(code.code.len(), 6);
    t.call(
        "SignUp",
        json!({"ClientId": client, "Username": "dave", "Password": "Passw0rd!"}),
    )
    .await
    .err("UsernameExistsException", "User already exists");
    t.call(
        "SignUp",
        json!({"ClientId": client, "Username": "erin", "Password": "short"}),
    )
    .await
    .err(
        "InvalidPasswordException",
        "Password did not conform with policy",
    );

    // Not confirmed yet: the right password gives UserNotConfirmedException.
    t.srp_sign_in(&pool, &client, "dave", "Passw0rd!", None, NOW)
        .await
        .err("UserNotConfirmedException", "User is not confirmed.");
    let wrong = if code.code == "000000" {
        "111111"
    } else {
        "000000"
    };
    t.call(
        "ConfirmSignUp",
        json!({"ClientId": client, "Username": "dave", "ConfirmationCode": wrong}),
    )
    .await
    .err("CodeMismatchException", "Invalid verification code");
    t.call(
        "ConfirmSignUp",
        json!({"ClientId": client, "Username": "dave", "ConfirmationCode": code.code}),
    )
    .await
    .ok();
    t.call(
        "ConfirmSignUp",
        json!({"ClientId": client, "Username": "dave", "ConfirmationCode": code.code}),
    )
    .await
    .err("NotAuthorizedException", "Current status is CONFIRMED");

    let r = t
        .srp_sign_in(&pool, &client, "dave", "Passw0rd!", None, NOW)
        .await
        .ok();
    let res = &r["AuthenticationResult"];
    assert_eq!(res["TokenType"], "Bearer");
    assert_eq!(res["ExpiresIn"], 3600);
    assert!(res["RefreshToken"].is_string());
    let id = claims(res["IdToken"].as_str().unwrap());
    assert_eq!(id["sub"], sub);
    assert_eq!(id["email_verified"], true);
    t.srp_sign_in(&pool, &client, "dave", "Passw0rd?", None, NOW)
        .await
        .err("NotAuthorizedException", "Incorrect username or password.");
    // GetUser with the access token.
    let g = t
        .call("GetUser", json!({"AccessToken": res["AccessToken"]}))
        .await
        .ok();
    assert_eq!(g["Username"], "dave");
    assert!(
        g["UserAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["Name"] == "email" && a["Value"] == "dave@example.com")
    );
}

#[tokio::test]
async fn secret_block_is_single_use_and_short_lived() {
    let t = setup().await;
    let (pool, client) = t.pool_and_client(json!({}), json!({})).await;
    t.user(&pool, "frank", "Passw0rd!", json!([])).await;
    // Run the challenge by hand so it can be replayed.
    use base64::Engine as _;
    let a = num_bigint_dig::BigUint::from_bytes_be(&rand::random::<[u8; 32]>());
    let big_a = cubby_userpool::srp::GROUP
        .g
        .modpow(&a, &cubby_userpool::srp::GROUP.n);
    let ch = t
        .call(
            "InitiateAuth",
            json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": client,
            "AuthParameters": {"USERNAME": "frank", "SRP_A": cubby_userpool::srp::to_hex(&big_a)}}),
        )
        .await
        .ok();
    let p = &ch["ChallengeParameters"];
    let salt = p["SALT"].as_str().unwrap();
    let n = num_bigint_dig::BigUint::parse_bytes(salt.as_bytes(), 16).unwrap();
    assert_eq!(
        salt,
        cubby_userpool::srp::pad_hex(&n),
        "SALT must be canonical padHex"
    );
    let b = cubby_userpool::srp::parse_hex(p["SRP_B"].as_str().unwrap()).unwrap();
    let key = cubby_userpool::srp::client_key(
        cubby_userpool::srp::pool_name(&pool),
        "frank",
        "Passw0rd!",
        salt,
        &a,
        &b,
    )
    .unwrap();
    let block = p["SECRET_BLOCK"].as_str().unwrap();
    let ts = cubby_userpool::srp::format_timestamp(NOW);
    let sig = cubby_userpool::srp::claim_signature(
        &key,
        cubby_userpool::srp::pool_name(&pool),
        "frank",
        &base64::engine::general_purpose::STANDARD
            .decode(block)
            .unwrap(),
        &ts,
    );
    let body = json!({"ChallengeName": "PASSWORD_VERIFIER", "ClientId": client, "ChallengeResponses": {
        "USERNAME": "frank", "PASSWORD_CLAIM_SECRET_BLOCK": block, "TIMESTAMP": ts,
        "PASSWORD_CLAIM_SIGNATURE": base64::engine::general_purpose::STANDARD.encode(sig)}});
    // Too late (the client's AuthSessionValidity is 3 minutes).
    t.call_at("RespondToAuthChallenge", body.clone(), NOW + 200)
        .await
        .err("NotAuthorizedException", "session is expired");
    t.call("RespondToAuthChallenge", body.clone()).await.ok();
    t.call("RespondToAuthChallenge", body.clone())
        .await
        .err("NotAuthorizedException", "Incorrect username or password.");
    // A tampered block does not open.
    let mut bad = body.clone();
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(block)
        .unwrap();
    raw[30] ^= 1;
    bad["ChallengeResponses"]["PASSWORD_CLAIM_SECRET_BLOCK"] =
        json!(base64::engine::general_purpose::STANDARD.encode(raw));
    t.call("RespondToAuthChallenge", bad)
        .await
        .err("NotAuthorizedException", "Incorrect username or password.");
    // A multiple of N as SRP_A is refused.
    let n_hex = cubby_userpool::srp::to_hex(&cubby_userpool::srp::GROUP.n);
    t.call(
        "InitiateAuth",
        json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": client,
            "AuthParameters": {"USERNAME": "frank", "SRP_A": n_hex}}),
    )
    .await
    .err("InvalidParameterException", "SRP_A");
}

#[tokio::test]
async fn unknown_users_get_a_decoy_challenge() {
    let t = setup().await;
    let (pool, client) = t.pool_and_client(json!({}), json!({"ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]})).await;
    t.srp_sign_in(&pool, &client, "ghost", "Passw0rd!", None, NOW)
        .await
        .err("NotAuthorizedException", "Incorrect username or password.");
    t.password_sign_in(&client, "ghost", "Passw0rd!", NOW)
        .await
        .err("NotAuthorizedException", "Incorrect username or password.");
    // With existence errors on (LEGACY), the truth.
    let c = t
        .admin(
            "CreateUserPoolClient",
            json!({"UserPoolId": pool, "ClientName": "legacy",
        "PreventUserExistenceErrors": "LEGACY"}),
        )
        .await
        .ok();
    let legacy = c["UserPoolClient"]["ClientId"].as_str().unwrap().to_owned();
    t.srp_sign_in(&pool, &legacy, "ghost", "Passw0rd!", None, NOW)
        .await
        .err("UserNotFoundException", "User does not exist.");
}

#[tokio::test]
async fn password_auth_flow_and_user_states() {
    let t = setup().await;
    let (pool, srp_only) = t.pool_and_client(json!({}), json!({})).await;
    t.user(&pool, "gina", "Passw0rd!", json!([])).await;
    t.password_sign_in(&srp_only, "gina", "Passw0rd!", NOW)
        .await
        .err(
            "InvalidParameterException",
            "USER_PASSWORD_AUTH flow not enabled for this client",
        );
    let c = t
        .admin(
            "CreateUserPoolClient",
            json!({"UserPoolId": pool, "ClientName": "pw",
        "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}),
        )
        .await
        .ok();
    let client = c["UserPoolClient"]["ClientId"].as_str().unwrap().to_owned();
    t.password_sign_in(&client, "gina", "Passw0rd!", NOW)
        .await
        .ok();
    // Pools are case-sensitive unless UsernameConfiguration.CaseSensitive is false.
    t.password_sign_in(&client, "GINA", "Passw0rd!", NOW)
        .await
        .err("NotAuthorizedException", "Incorrect username or password.");
    t.password_sign_in(&client, "gina", "nope", NOW)
        .await
        .err("NotAuthorizedException", "Incorrect username or password.");
    t.admin(
        "AdminDisableUser",
        json!({"UserPoolId": pool, "Username": "gina"}),
    )
    .await
    .ok();
    t.password_sign_in(&client, "gina", "Passw0rd!", NOW)
        .await
        .err("NotAuthorizedException", "User is disabled.");
    t.admin(
        "AdminEnableUser",
        json!({"UserPoolId": pool, "Username": "gina"}),
    )
    .await
    .ok();
    // Admin flow needs its own flag.
    t.admin(
        "AdminInitiateAuth",
        json!({"UserPoolId": pool, "ClientId": client, "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": "gina", "PASSWORD": "Passw0rd!"}}),
    )
    .await
    .err("InvalidParameterException", "Auth flow not enabled");
    t.admin(
        "UpdateUserPoolClient",
        json!({"UserPoolId": pool, "ClientId": client,
        "ExplicitAuthFlows": ["ALLOW_ADMIN_USER_PASSWORD_AUTH"]}),
    )
    .await
    .ok();
    t.admin(
        "AdminInitiateAuth",
        json!({"UserPoolId": pool, "ClientId": client, "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": "gina", "PASSWORD": "Passw0rd!"}}),
    )
    .await
    .ok();
    // The unsigned InitiateAuth cannot use the admin flow.
    t.call(
        "InitiateAuth",
        json!({"ClientId": client, "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": "gina", "PASSWORD": "Passw0rd!"}}),
    )
    .await
    .err("InvalidParameterException", "AuthFlow");
}

#[tokio::test]
async fn repeated_failures_are_throttled() {
    let t = setup().await;
    let (pool, client) = t
        .pool_and_client(
            json!({}),
            json!({"ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"]}),
        )
        .await;
    t.user(&pool, "hank", "Passw0rd!", json!([])).await;
    for _ in 0..5 {
        t.password_sign_in(&client, "hank", "wrong", NOW)
            .await
            .err("NotAuthorizedException", "Incorrect username or password.");
    }
    // Locked: even the right password (and SRP) is refused.
    t.password_sign_in(&client, "hank", "Passw0rd!", NOW)
        .await
        .err("NotAuthorizedException", "Password attempts exceeded");
    t.srp_sign_in(&pool, &client, "hank", "Passw0rd!", None, NOW)
        .await
        .err("NotAuthorizedException", "Password attempts exceeded");
    // The lockout doubles: one more failure after the first second locks for 2 s.
    t.password_sign_in(&client, "hank", "wrong", NOW + 2)
        .await
        .err("NotAuthorizedException", "Incorrect username or password.");
    t.password_sign_in(&client, "hank", "Passw0rd!", NOW + 3)
        .await
        .err("NotAuthorizedException", "Password attempts exceeded");
    t.password_sign_in(&client, "hank", "Passw0rd!", NOW + 5)
        .await
        .ok();
    // Success reset the counter.
    t.password_sign_in(&client, "hank", "wrong", NOW + 6)
        .await
        .err("NotAuthorizedException", "Incorrect username or password.");
    t.password_sign_in(&client, "hank", "Passw0rd!", NOW + 6)
        .await
        .ok();
    // SRP failures count too.
    for _ in 0..5 {
        t.srp_sign_in(&pool, &client, "hank", "bad", None, NOW + 10)
            .await
            .err("NotAuthorizedException", "Incorrect username or password.");
    }
    t.srp_sign_in(&pool, &client, "hank", "Passw0rd!", None, NOW + 10)
        .await
        .err("NotAuthorizedException", "Password attempts exceeded");
}

#[tokio::test]
async fn secret_hash_is_enforced() {
    let t = setup().await;
    let (pool, client) = t
        .pool_and_client(json!({}), json!({"GenerateSecret": true,
            "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}))
        .await;
    let d = t
        .admin(
            "DescribeUserPoolClient",
            json!({"UserPoolId": pool, "ClientId": client}),
        )
        .await
        .ok();
    let secret = d["UserPoolClient"]["ClientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let sign_up = json!({"ClientId": client, "Username": "ivy", "Password": "Passw0rd!"});
    t.call("SignUp", sign_up.clone()).await.err(
        "NotAuthorizedException",
        "is configured with secret but SECRET_HASH was not received",
    );
    let mut bad = sign_up.clone();
    bad["SecretHash"] = json!(secret_hash(&secret, "ivy", "wrong-client"));
    t.call("SignUp", bad).await.err(
        "NotAuthorizedException",
        "Unable to verify secret hash for client",
    );
    let mut good = sign_up.clone();
    good["SecretHash"] = json!(secret_hash(&secret, "ivy", &client));
    t.call("SignUp", good).await.ok();
    t.admin(
        "AdminConfirmSignUp",
        json!({"UserPoolId": pool, "Username": "ivy"}),
    )
    .await
    .ok();

    t.password_sign_in(&client, "ivy", "Passw0rd!", NOW)
        .await
        .err("NotAuthorizedException", "SECRET_HASH was not received");
    let r = t
        .call(
            "InitiateAuth",
            json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client,
            "AuthParameters": {"USERNAME": "ivy", "PASSWORD": "Passw0rd!",
                               "SECRET_HASH": secret_hash(&secret, "ivy", &client)}}),
        )
        .await
        .ok();
    let cid = client.clone();
    let sec = secret.clone();
    let h = move |u: &str| secret_hash(&sec, u, &cid);
    t.srp_sign_in(&pool, &client, "ivy", "Passw0rd!", Some(&h), NOW)
        .await
        .ok();
    let refresh = r["AuthenticationResult"]["RefreshToken"].as_str().unwrap();
    t.call(
        "InitiateAuth",
        json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": client,
            "AuthParameters": {"REFRESH_TOKEN": refresh}}),
    )
    .await
    .err("NotAuthorizedException", "SECRET_HASH was not received");
    t.call("InitiateAuth", json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": client,
            "AuthParameters": {"REFRESH_TOKEN": refresh, "SECRET_HASH": secret_hash(&secret, "ivy", &client)}}))
        .await
        .ok();
    t.call(
        "GetTokensFromRefreshToken",
        json!({"ClientId": client, "RefreshToken": refresh}),
    )
    .await
    .err("NotAuthorizedException", "client secret");
    t.call(
        "GetTokensFromRefreshToken",
        json!({"ClientId": client, "RefreshToken": refresh, "ClientSecret": secret}),
    )
    .await
    .ok();
}

#[tokio::test]
async fn admin_created_user_sets_a_new_password() {
    let t = setup().await;
    let (pool, client) = t.pool_and_client(json!({}), json!({})).await;
    t.admin(
        "AdminCreateUser",
        json!({"UserPoolId": pool, "Username": "jack", "TemporaryPassword": "TempPass1!",
        "UserAttributes": [{"Name": "email", "Value": "jack@example.com"}]}),
    )
    .await
    .ok();
    let sent = t.last_code();
    assert_eq!(sent.code, "TempPass1!");
    let r = t
        .srp_sign_in(&pool, &client, "jack", "TempPass1!", None, NOW)
        .await
        .ok();
    assert_eq!(r["ChallengeName"], "NEW_PASSWORD_REQUIRED");
    let session = r["Session"].as_str().unwrap().to_owned();
    let user_attrs: serde_json::Value =
        serde_json::from_str(r["ChallengeParameters"]["userAttributes"].as_str().unwrap()).unwrap();
    assert_eq!(user_attrs["email"], "jack@example.com");
    let respond = |pw: &str| {
        json!({"ChallengeName": "NEW_PASSWORD_REQUIRED", "ClientId": client, "Session": session,
        "ChallengeResponses": {"USERNAME": "jack", "NEW_PASSWORD": pw, "userAttributes.name": "Jack"}})
    };
    t.call("RespondToAuthChallenge", respond("weak"))
        .await
        .err("InvalidPasswordException", "");
    let r = t
        .call("RespondToAuthChallenge", respond("NewPassw0rd!"))
        .await
        .ok();
    let id = claims(r["AuthenticationResult"]["IdToken"].as_str().unwrap());
    assert_eq!(id["name"], "Jack");
    let g = t
        .admin(
            "AdminGetUser",
            json!({"UserPoolId": pool, "Username": "jack"}),
        )
        .await
        .ok();
    assert_eq!(g["UserStatus"], "CONFIRMED");
    t.call("RespondToAuthChallenge", respond("OtherPassw0rd!"))
        .await
        .err("NotAuthorizedException", "session is expired");
    t.srp_sign_in(&pool, &client, "jack", "NewPassw0rd!", None, NOW)
        .await
        .ok();
    // An expired temporary password.
    t.admin(
        "AdminCreateUser",
        json!({"UserPoolId": pool, "Username": "kim", "TemporaryPassword": "TempPass1!"}),
    )
    .await
    .ok();
    t.srp_sign_in(&pool, &client, "kim", "TempPass1!", None, NOW + 8 * 86_400)
        .await
        .err("NotAuthorizedException", "Temporary password has expired");
}

#[tokio::test]
async fn email_as_username() {
    let t = setup().await;
    let (pool, client) = t
        .pool_and_client(json!({"UsernameAttributes": ["email"], "UsernameConfiguration": {"CaseSensitive": false}}), json!({}))
        .await;
    let r = t
        .call(
            "SignUp",
            json!({"ClientId": client, "Username": "Liz@Example.com", "Password": "Passw0rd!"}),
        )
        .await
        .ok();
    let sub = r["UserSub"].as_str().unwrap().to_owned();
    let code = t.last_code();
    assert_eq!(code.username, sub, "the internal username is the sub");
    t.call(
        "ConfirmSignUp",
        json!({"ClientId": client, "Username": "liz@example.com", "ConfirmationCode": code.code}),
    )
    .await
    .ok();
    t.call(
        "SignUp",
        json!({"ClientId": client, "Username": "liz@example.com", "Password": "Passw0rd!"}),
    )
    .await
    .err("UsernameExistsException", "");
    t.call(
        "SignUp",
        json!({"ClientId": client, "Username": "not-an-email", "Password": "Passw0rd!"}),
    )
    .await
    .err("InvalidParameterException", "email");
    let r = t
        .srp_sign_in(&pool, &client, "liz@example.com", "Passw0rd!", None, NOW)
        .await
        .ok();
    let id = claims(r["AuthenticationResult"]["IdToken"].as_str().unwrap());
    assert_eq!(id["cognito:username"], sub);
    assert_eq!(id["email"], "Liz@Example.com");
    assert_eq!(id["email_verified"], true);

    // Forgot password via the email alias.
    t.call(
        "ForgotPassword",
        json!({"ClientId": client, "Username": "liz@example.com"}),
    )
    .await
    .ok();
    let code = t.last_code();
    t.call(
        "ConfirmForgotPassword",
        json!({"ClientId": client, "Username": "liz@example.com",
        "ConfirmationCode": code.code, "Password": "Changed0rd!"}),
    )
    .await
    .ok();
    t.srp_sign_in(&pool, &client, "liz@example.com", "Passw0rd!", None, NOW)
        .await
        .err("NotAuthorizedException", "Incorrect username or password.");
    t.srp_sign_in(&pool, &client, "liz@example.com", "Changed0rd!", None, NOW)
        .await
        .ok();
}

#[tokio::test]
async fn change_password_and_self_service() {
    let t = setup().await;
    let (pool, client) = t.pool_and_client(json!({}), json!({})).await;
    t.user(
        &pool,
        "mia",
        "Passw0rd!",
        json!([{"Name": "email", "Value": "mia@example.com"}]),
    )
    .await;
    let r = t
        .srp_sign_in(&pool, &client, "mia", "Passw0rd!", None, NOW)
        .await
        .ok();
    let access = r["AuthenticationResult"]["AccessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    t.call("ChangePassword", json!({"AccessToken": access, "PreviousPassword": "nope", "ProposedPassword": "Another0rd!"}))
        .await
        .err("NotAuthorizedException", "Incorrect username or password.");
    t.call("ChangePassword", json!({"AccessToken": access, "PreviousPassword": "Passw0rd!", "ProposedPassword": "Another0rd!"}))
        .await
        .ok();
    t.srp_sign_in(&pool, &client, "mia", "Another0rd!", None, NOW)
        .await
        .ok();
    t.call(
        "UpdateUserAttributes",
        json!({"AccessToken": access, "UserAttributes": [{"Name": "given_name", "Value": "Mia"}]}),
    )
    .await
    .ok();
    t.call("UpdateUserAttributes", json!({"AccessToken": access, "UserAttributes": [{"Name": "email_verified", "Value": "true"}]}))
        .await
        .err("NotAuthorizedException", "unauthorized attribute");
    let g = t.call("GetUser", json!({"AccessToken": access})).await.ok();
    assert!(
        g["UserAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["Name"] == "given_name")
    );
    t.call("GetUser", json!({"AccessToken": "garbage"}))
        .await
        .err("NotAuthorizedException", "Invalid Access Token");
}
