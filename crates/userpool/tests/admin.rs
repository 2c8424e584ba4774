//! Admin API: SigV4 authentication, pools, clients, users, groups, the JSON error shape.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use serde_json::json;

#[tokio::test]
async fn admin_calls_need_a_valid_signature() {
    let t = setup().await;
    let body = br#"{"PoolName":"p"}"#;
    t.raw("CreateUserPool", body, None, NOW).await.err(
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    );
    t.raw(
        "CreateUserPool",
        body,
        Some((ROOT_AK, "wrong", "cognito-idp")),
        NOW,
    )
    .await
    .err(
        "InvalidSignatureException",
        "signature we calculated does not match",
    );
    t.raw(
        "CreateUserPool",
        body,
        Some(("AKIAUNKNOWN000000000", ROOT_SK, "cognito-idp")),
        NOW,
    )
    .await
    .err(
        "UnrecognizedClientException",
        "security token included in the request is invalid",
    );
    t.raw("CreateUserPool", body, Some((ROOT_AK, ROOT_SK, "s3")), NOW)
        .await
        .err("InvalidSignatureException", "cognito-idp");
    // Signed 20 minutes ago.
    let stale = signed_parts(body, NOW - 1200);
    let r =
        t.up.handle_json(
            "CreateUserPool",
            &stale,
            bytes::Bytes::from_static(body),
            NOW,
        )
        .await;
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(v["__type"], "InvalidSignatureException");
    assert!(v["message"].as_str().unwrap().contains("Signature expired"));
    // A signed request whose body was altered after signing.
    let p = br#"{"PoolName":"q"}"#;
    let parts = signed_parts(body, NOW);
    let r =
        t.up.handle_json("CreateUserPool", &parts, bytes::Bytes::from_static(p), NOW)
            .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers()["x-amzn-requestid"].to_str().unwrap().len() >= 32);
    assert_eq!(
        r.headers()["x-amzn-errortype"].to_str().unwrap(),
        "InvalidSignatureException:"
    );
}

fn signed_parts(body: &[u8], at: i64) -> http::request::Parts {
    let mut parts = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("host", "127.0.0.1:9300")
        .header(
            "x-amz-target",
            "AWSCognitoIdentityProviderService.CreateUserPool",
        )
        .body(())
        .unwrap()
        .into_parts()
        .0;
    cubby_auth::sigv4::sign_request(
        &mut parts,
        ROOT_AK,
        ROOT_SK,
        None,
        "us-east-1",
        "cognito-idp",
        &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body)),
        at,
    );
    parts
}

#[tokio::test]
async fn json_errors_and_limits() {
    let t = setup().await;
    t.raw("SignUp", b"{not json", None, NOW)
        .await
        .err("SerializationException", "Invalid JSON");
    t.raw("SignUp", b"[1]", None, NOW)
        .await
        .err("SerializationException", "JSON object");
    t.call("NoSuchOp", json!({}))
        .await
        .err("UnknownOperationException", "NoSuchOp");
    let big = vec![b' '; cubby_userpool::MAX_BODY_BYTES + 1];
    let r = t.raw("SignUp", &big, None, NOW).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.code(), "RequestEntityTooLargeException");
    t.call(
        "SignUp",
        json!({"ClientId": "nope", "Username": "a", "Password": "b"}),
    )
    .await
    .err(
        "ResourceNotFoundException",
        "User pool client nope does not exist.",
    );
    t.call("SignUp", json!({"ClientId": 5}))
        .await
        .err("SerializationException", "ClientId");
    t.admin(
        "DescribeUserPool",
        json!({"UserPoolId": "us-east-1_Nope12345"}),
    )
    .await
    .err(
        "ResourceNotFoundException",
        "User pool us-east-1_Nope12345 does not exist.",
    );
    t.admin("CreateUserPool", json!({}))
        .await
        .err("InvalidParameterException", "poolName");
}

#[tokio::test]
async fn pools_and_clients() {
    let t = setup().await;
    let p = t
        .admin(
            "CreateUserPool",
            json!({"PoolName": "seed", "Policies": {"PasswordPolicy": {"MinimumLength": 10,
                   "RequireUppercase": true, "RequireLowercase": true, "RequireNumbers": true,
                   "RequireSymbols": false}}, "UsernameAttributes": ["email"],
                   "UserPoolTags": {"app": "seed"}, "Schema": [{"Name": "tenant", "AttributeDataType": "String"}]}),
        )
        .await
        .ok();
    let id = p["UserPool"]["Id"].as_str().unwrap().to_owned();
    let (region, name) = id.split_once('_').unwrap();
    assert_eq!(region, "us-east-1");
    assert_eq!(name.len(), 9);
    assert!(name.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(
        p["UserPool"]["Arn"],
        format!("arn:aws:cognito-idp:us-east-1:000000000000:userpool/{id}")
    );
    assert_eq!(
        p["UserPool"]["Policies"]["PasswordPolicy"]["MinimumLength"],
        10
    );
    assert_eq!(p["UserPool"]["UserPoolTags"]["app"], "seed");
    assert!(p["UserPool"]["CreationDate"].is_number());

    let d = t
        .admin("DescribeUserPool", json!({"UserPoolId": id}))
        .await
        .ok();
    assert_eq!(d["UserPool"]["Name"], "seed");
    assert_eq!(d["UserPool"]["UsernameAttributes"], json!(["email"]));
    t.admin(
        "UpdateUserPool",
        json!({"UserPoolId": id, "AutoVerifiedAttributes": ["email"]}),
    )
    .await
    .ok();
    let d = t
        .admin("DescribeUserPool", json!({"UserPoolId": id}))
        .await
        .ok();
    assert_eq!(d["UserPool"]["AutoVerifiedAttributes"], json!(["email"]));
    let l = t
        .admin("ListUserPools", json!({"MaxResults": 10}))
        .await
        .ok();
    assert_eq!(l["UserPools"][0]["Id"], id);
    t.admin("ListUserPools", json!({}))
        .await
        .err("InvalidParameterException", "maxResults");

    let c = t
        .admin(
            "CreateUserPoolClient",
            json!({"UserPoolId": id, "ClientName": "web", "GenerateSecret": true,
                   "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                   "AccessTokenValidity": 30, "TokenValidityUnits": {"AccessToken": "minutes"},
                   "CallbackURLs": ["https://app.example/cb"]}),
        )
        .await
        .ok();
    let cid = c["UserPoolClient"]["ClientId"].as_str().unwrap().to_owned();
    assert_eq!(cid.len(), 26);
    assert!(
        cid.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    let secret = c["UserPoolClient"]["ClientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.len() >= 40);
    assert_eq!(c["UserPoolClient"]["AccessTokenValidity"], 30);
    assert_eq!(c["UserPoolClient"]["IdTokenValidity"], 1);
    assert_eq!(c["UserPoolClient"]["RefreshTokenValidity"], 30);
    assert_eq!(c["UserPoolClient"]["PreventUserExistenceErrors"], "ENABLED");
    assert_eq!(
        c["UserPoolClient"]["CallbackURLs"],
        json!(["https://app.example/cb"])
    );
    let d = t
        .admin(
            "DescribeUserPoolClient",
            json!({"UserPoolId": id, "ClientId": cid}),
        )
        .await
        .ok();
    assert_eq!(d["UserPoolClient"]["ClientSecret"], secret);
    t.admin(
        "UpdateUserPoolClient",
        json!({"UserPoolId": id, "ClientId": cid, "ClientName": "web2",
               "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"]}),
    )
    .await
    .ok();
    let d = t
        .admin(
            "DescribeUserPoolClient",
            json!({"UserPoolId": id, "ClientId": cid}),
        )
        .await
        .ok();
    assert_eq!(d["UserPoolClient"]["ClientName"], "web2");
    assert_eq!(
        d["UserPoolClient"]["ExplicitAuthFlows"],
        json!(["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"])
    );
    t.admin(
        "CreateUserPoolClient",
        json!({"UserPoolId": id, "ClientName": "x", "IdTokenValidity": 2, "TokenValidityUnits": {"IdToken": "days"}}),
    )
    .await
    .err("InvalidParameterException", "token validity");
    let l = t
        .admin("ListUserPoolClients", json!({"UserPoolId": id}))
        .await
        .ok();
    assert_eq!(l["UserPoolClients"].as_array().unwrap().len(), 1);
    t.admin(
        "DeleteUserPoolClient",
        json!({"UserPoolId": id, "ClientId": cid}),
    )
    .await
    .ok();
    t.admin(
        "DescribeUserPoolClient",
        json!({"UserPoolId": id, "ClientId": cid}),
    )
    .await
    .err("ResourceNotFoundException", "does not exist");

    t.admin(
        "UpdateUserPool",
        json!({"UserPoolId": id, "DeletionProtection": "ACTIVE"}),
    )
    .await
    .ok();
    t.admin("DeleteUserPool", json!({"UserPoolId": id}))
        .await
        .err("InvalidParameterException", "deletion protection");
    t.admin(
        "UpdateUserPool",
        json!({"UserPoolId": id, "DeletionProtection": "INACTIVE"}),
    )
    .await
    .ok();
    t.admin("DeleteUserPool", json!({"UserPoolId": id}))
        .await
        .ok();
    t.admin("DescribeUserPool", json!({"UserPoolId": id}))
        .await
        .err("ResourceNotFoundException", "does not exist");
}

#[tokio::test]
async fn users_admin_and_list_filter() {
    let t = setup().await;
    let (pool, _) = t.pool_and_client(json!({}), json!({})).await;
    for (n, e) in [
        ("alice", "alice@example.com"),
        ("bob", "bob@example.com"),
        ("albert", "al@other.org"),
    ] {
        t.user(
            &pool,
            n,
            "Passw0rd!",
            json!([{"Name": "email", "Value": e}, {"Name": "email_verified", "Value": "true"}]),
        )
        .await;
    }
    let g = t
        .admin(
            "AdminGetUser",
            json!({"UserPoolId": pool, "Username": "alice"}),
        )
        .await
        .ok();
    assert_eq!(g["UserStatus"], "CONFIRMED");
    assert_eq!(g["Enabled"], true);
    assert_eq!(g["UserAttributes"][0]["Name"], "sub");
    let sub = g["UserAttributes"][0]["Value"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(sub).is_ok());
    t.admin(
        "AdminCreateUser",
        json!({"UserPoolId": pool, "Username": "alice"}),
    )
    .await
    .err("UsernameExistsException", "already exists");
    t.admin(
        "AdminGetUser",
        json!({"UserPoolId": pool, "Username": "nobody"}),
    )
    .await
    .err("UserNotFoundException", "User does not exist.");
    t.admin("AdminCreateUser", json!({"UserPoolId": pool, "Username": "x", "UserAttributes": [{"Name": "custom:nope", "Value": "1"}]}))
        .await
        .err("InvalidParameterException", "custom:nope");

    let l = t
        .admin(
            "ListUsers",
            json!({"UserPoolId": pool, "Filter": "username ^= \"al\""}),
        )
        .await
        .ok();
    let names: Vec<&str> = l["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["Username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["albert", "alice"]);
    let l = t
        .admin(
            "ListUsers",
            json!({"UserPoolId": pool, "Filter": "email = \"bob@example.com\""}),
        )
        .await
        .ok();
    assert_eq!(l["Users"][0]["Username"], "bob");
    let l = t
        .admin("ListUsers", json!({"UserPoolId": pool, "Limit": 2}))
        .await
        .ok();
    assert_eq!(l["Users"].as_array().unwrap().len(), 2);
    let tok = l["PaginationToken"].as_str().unwrap();
    let l2 = t
        .admin(
            "ListUsers",
            json!({"UserPoolId": pool, "Limit": 2, "PaginationToken": tok}),
        )
        .await
        .ok();
    assert_eq!(l2["Users"].as_array().unwrap().len(), 1);
    assert!(l2.get("PaginationToken").is_none());
    t.admin("ListUsers", json!({"UserPoolId": pool, "Filter": "bogus"}))
        .await
        .err("InvalidParameterException", "filter");

    t.admin(
        "AdminUpdateUserAttributes",
        json!({"UserPoolId": pool, "Username": "bob",
        "UserAttributes": [{"Name": "name", "Value": "Bob B"}]}),
    )
    .await
    .ok();
    let g = t
        .admin(
            "AdminGetUser",
            json!({"UserPoolId": pool, "Username": "bob"}),
        )
        .await
        .ok();
    assert!(
        g["UserAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["Name"] == "name" && a["Value"] == "Bob B")
    );
    t.admin(
        "AdminDisableUser",
        json!({"UserPoolId": pool, "Username": "bob"}),
    )
    .await
    .ok();
    let l = t
        .admin(
            "ListUsers",
            json!({"UserPoolId": pool, "Filter": "status = \"Disabled\""}),
        )
        .await
        .ok();
    assert_eq!(l["Users"][0]["Username"], "bob");
    t.admin(
        "AdminEnableUser",
        json!({"UserPoolId": pool, "Username": "bob"}),
    )
    .await
    .ok();
    t.admin(
        "AdminDeleteUser",
        json!({"UserPoolId": pool, "Username": "bob"}),
    )
    .await
    .ok();
    t.admin(
        "AdminGetUser",
        json!({"UserPoolId": pool, "Username": "bob"}),
    )
    .await
    .err("UserNotFoundException", "");
}

#[tokio::test]
async fn groups_reach_the_id_token() {
    let t = setup().await;
    let (pool, client) = t.pool_and_client(json!({}), json!({})).await;
    t.user(&pool, "carol", "Passw0rd!", json!([])).await;
    t.admin(
        "CreateGroup",
        json!({"UserPoolId": pool, "GroupName": "admins", "Precedence": 1,
        "RoleArn": "arn:aws:iam::000000000000:role/Admin"}),
    )
    .await
    .ok();
    t.admin(
        "CreateGroup",
        json!({"UserPoolId": pool, "GroupName": "users", "Precedence": 5,
        "RoleArn": "arn:aws:iam::000000000000:role/User"}),
    )
    .await
    .ok();
    t.admin(
        "CreateGroup",
        json!({"UserPoolId": pool, "GroupName": "users"}),
    )
    .await
    .err("GroupExistsException", "already exists");
    for g in ["admins", "users"] {
        t.admin(
            "AdminAddUserToGroup",
            json!({"UserPoolId": pool, "Username": "carol", "GroupName": g}),
        )
        .await
        .ok();
    }
    let l = t
        .admin(
            "AdminListGroupsForUser",
            json!({"UserPoolId": pool, "Username": "carol"}),
        )
        .await
        .ok();
    assert_eq!(l["Groups"].as_array().unwrap().len(), 2);
    let l = t
        .admin(
            "ListUsersInGroup",
            json!({"UserPoolId": pool, "GroupName": "admins"}),
        )
        .await
        .ok();
    assert_eq!(l["Users"][0]["Username"], "carol");
    let r = t
        .srp_sign_in(&pool, &client, "carol", "Passw0rd!", None, NOW)
        .await
        .ok();
    let id = claims(r["AuthenticationResult"]["IdToken"].as_str().unwrap());
    assert_eq!(id["cognito:groups"], json!(["admins", "users"]));
    assert_eq!(
        id["cognito:roles"],
        json!([
            "arn:aws:iam::000000000000:role/Admin",
            "arn:aws:iam::000000000000:role/User"
        ])
    );
    assert_eq!(
        id["cognito:preferred_role"],
        "arn:aws:iam::000000000000:role/Admin"
    );
    let access = claims(r["AuthenticationResult"]["AccessToken"].as_str().unwrap());
    assert_eq!(access["cognito:groups"], json!(["admins", "users"]));
    t.admin(
        "AdminRemoveUserFromGroup",
        json!({"UserPoolId": pool, "Username": "carol", "GroupName": "admins"}),
    )
    .await
    .ok();
    let l = t
        .admin("ListGroups", json!({"UserPoolId": pool}))
        .await
        .ok();
    assert_eq!(l["Groups"].as_array().unwrap().len(), 2);
    t.admin(
        "DeleteGroup",
        json!({"UserPoolId": pool, "GroupName": "admins"}),
    )
    .await
    .ok();
    t.admin(
        "GetGroup",
        json!({"UserPoolId": pool, "GroupName": "admins"}),
    )
    .await
    .err("ResourceNotFoundException", "");
}
