#!/usr/bin/env python3
"""End-to-end check of cubby's user pools with unmodified AWS clients (boto3 + pycognito).

Usage: pycognito_check.py ENDPOINT   (e.g. http://127.0.0.1:9301)
Needs: pip install pycognito (brings boto3); root keys in CUBBY_ROOT_ACCESS_KEY_ID /
CUBBY_ROOT_SECRET_ACCESS_KEY. Exits non-zero on the first failure.
"""
import base64, hashlib, hmac, json, os, sys, urllib.request, uuid

import boto3
from botocore.exceptions import ClientError
from pycognito.aws_srp import AWSSRP

endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9301"
region = "us-east-1"
admin = boto3.client(
    "cognito-idp", region_name=region, endpoint_url=endpoint,
    aws_access_key_id=os.environ["CUBBY_ROOT_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["CUBBY_ROOT_SECRET_ACCESS_KEY"])
# End-user calls are unsigned, as the SDKs send them.
from botocore import UNSIGNED
from botocore.config import Config
public = boto3.client("cognito-idp", region_name=region, endpoint_url=endpoint,
                      config=Config(signature_version=UNSIGNED))

passed = 0
def check(name, cond):
    global passed
    if not cond:
        print(f"FAIL {name}")
        sys.exit(1)
    passed += 1
    print(f"ok   {name}")

def error_code(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    return None, None

pool = admin.create_user_pool(PoolName="py-e2e", AutoVerifiedAttributes=["email"])["UserPool"]
pool_id = pool["Id"]
check("pool id shape", pool_id.startswith("us-east-1_") and len(pool_id.split("_")[1]) == 9)
client = admin.create_user_pool_client(
    UserPoolId=pool_id, ClientName="py",
    ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]
client_id = client["ClientId"]
secret_client = admin.create_user_pool_client(
    UserPoolId=pool_id, ClientName="py-secret", GenerateSecret=True,
    ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]

user = "py-" + uuid.uuid4().hex[:8]
password = "Passw0rd!x"
r = public.sign_up(ClientId=client_id, Username=user, Password=password,
                   UserAttributes=[{"Name": "email", "Value": f"{user}@example.com"}])
check("sign_up returns a sub", len(r["UserSub"]) == 36 and not r["UserConfirmed"])
code, msg = error_code(public.initiate_auth, ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                       AuthParameters={"USERNAME": user, "PASSWORD": password})
check("unconfirmed user refused", code == "UserNotConfirmedException")
admin.admin_confirm_sign_up(UserPoolId=pool_id, Username=user)

# pycognito's own SRP implementation against the server.
srp = AWSSRP(username=user, password=password, pool_id=pool_id, client_id=client_id, client=public)
tokens = srp.authenticate_user()
res = tokens["AuthenticationResult"]
check("pycognito SRP sign-in", "IdToken" in res and "RefreshToken" in res)

# Verify the ID token with the JWKS found through discovery.
def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
claims = json.loads(b64d(res["IdToken"].split(".")[1]))
disc = json.load(urllib.request.urlopen(claims["iss"] + "/.well-known/openid-configuration"))
check("discovery issuer = iss", disc["issuer"] == claims["iss"])
jwks = json.load(urllib.request.urlopen(disc["jwks_uri"]))
header = json.loads(b64d(res["IdToken"].split(".")[0]))
key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
n = int.from_bytes(b64d(key["n"]), "big"); e = int.from_bytes(b64d(key["e"]), "big")
signing_input = ".".join(res["IdToken"].split(".")[:2]).encode()
sig = int.from_bytes(b64d(res["IdToken"].split(".")[2]), "big")
em = pow(sig, e, n).to_bytes((n.bit_length() + 7) // 8, "big")
digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(signing_input).digest()
check("RS256 signature verifies with the JWKS", em.endswith(digest_info) and em.startswith(b"\x00\x01\xff"))
check("claims", claims["aud"] == client_id and claims["token_use"] == "id"
      and claims["cognito:username"] == user and claims["email"] == f"{user}@example.com")

# Wrong password through pycognito.
bad = AWSSRP(username=user, password="Wrong0000!", pool_id=pool_id, client_id=client_id, client=public)
try:
    bad.authenticate_user()
    check("wrong password refused", False)
except ClientError as e:
    check("wrong password refused", e.response["Error"]["Code"] == "NotAuthorizedException")

# SRP with a client secret (pycognito computes SECRET_HASH).
srp2 = AWSSRP(username=user, password=password, pool_id=pool_id, client_id=secret_client["ClientId"],
              client_secret=secret_client["ClientSecret"], client=public)
check("pycognito SRP with SECRET_HASH", "IdToken" in srp2.authenticate_user()["AuthenticationResult"])

# USER_PASSWORD_AUTH, refresh, GetUser, GlobalSignOut through boto3.
r = public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                         AuthParameters={"USERNAME": user, "PASSWORD": password})
check("USER_PASSWORD_AUTH", "AccessToken" in r["AuthenticationResult"])
r2 = public.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                          AuthParameters={"REFRESH_TOKEN": r["AuthenticationResult"]["RefreshToken"]})
check("REFRESH_TOKEN_AUTH", "IdToken" in r2["AuthenticationResult"] and "RefreshToken" not in r2["AuthenticationResult"])
me = public.get_user(AccessToken=r2["AuthenticationResult"]["AccessToken"])
check("GetUser", me["Username"] == user)
public.global_sign_out(AccessToken=r2["AuthenticationResult"]["AccessToken"])
code, msg = error_code(public.get_user, AccessToken=r2["AuthenticationResult"]["AccessToken"])
check("GlobalSignOut revokes access tokens", code == "NotAuthorizedException" and "revoked" in msg)
users = admin.list_users(UserPoolId=pool_id, Filter=f'username = "{user}"')["Users"]
check("ListUsers filter", len(users) == 1 and users[0]["UserStatus"] == "CONFIRMED")
admin.delete_user_pool(UserPoolId=pool_id)
print(f"{passed} passed, 0 failed")
