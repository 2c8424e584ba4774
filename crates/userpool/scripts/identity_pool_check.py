#!/usr/bin/env python3
"""User-pool ID tokens in an identity pool's Logins map (issue 6 item 4), with boto3 + pycognito.

Usage: identity_pool_check.py ENDPOINT   (e.g. http://127.0.0.1:9301; the server must listen on the
address in ENDPOINT so the token's iss matches the provider name). Root keys in
CUBBY_ROOT_ACCESS_KEY_ID / CUBBY_ROOT_SECRET_ACCESS_KEY.
"""
import sys
import os, boto3, uuid
from botocore import UNSIGNED
from botocore.config import Config
from pycognito.aws_srp import AWSSRP
ep=sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9301"; kw=dict(region_name="us-east-1", endpoint_url=ep)
creds=dict(aws_access_key_id=os.environ["CUBBY_ROOT_ACCESS_KEY_ID"], aws_secret_access_key=os.environ["CUBBY_ROOT_SECRET_ACCESS_KEY"])
idp=boto3.client("cognito-idp", **kw, **creds)
pub=boto3.client("cognito-idp", **kw, config=Config(signature_version=UNSIGNED))
ci=boto3.client("cognito-identity", **kw, **creds)
ciu=boto3.client("cognito-identity", **kw, config=Config(signature_version=UNSIGNED))
iam=boto3.client("iam", **kw, **creds)
pool=idp.create_user_pool(PoolName="idp")["UserPool"]["Id"]
cid=idp.create_user_pool_client(UserPoolId=pool, ClientName="w")["UserPoolClient"]["ClientId"]
other=idp.create_user_pool_client(UserPoolId=pool, ClientName="o")["UserPoolClient"]["ClientId"]
idp.admin_create_user(UserPoolId=pool, Username="u1", MessageAction="SUPPRESS")
idp.admin_set_user_password(UserPoolId=pool, Username="u1", Password="Passw0rd!x", Permanent=True)
tok=AWSSRP(username="u1", password="Passw0rd!x", pool_id=pool, client_id=cid, client=pub).authenticate_user()["AuthenticationResult"]
tok2=AWSSRP(username="u1", password="Passw0rd!x", pool_id=pool, client_id=other, client=pub).authenticate_user()["AuthenticationResult"]
provider=ep.split("://", 1)[1] + "/" + pool
import json
trust={"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"}}}]}
role=iam.create_role(RoleName="Auth"+uuid.uuid4().hex[:6], AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
ip=ci.create_identity_pool(IdentityPoolName="ip" + uuid.uuid4().hex[:8], AllowUnauthenticatedIdentities=False,
   CognitoIdentityProviders=[{"ProviderName":provider,"ClientId":cid,"ServerSideTokenCheck":True}])["IdentityPoolId"]
trust["Statement"][0]["Condition"]["StringEquals"]={"cognito-identity.amazonaws.com:aud":ip}
ci.set_identity_pool_roles(IdentityPoolId=ip, Roles={"authenticated":role})
iid=ciu.get_id(IdentityPoolId=ip, Logins={provider: tok["IdToken"]})["IdentityId"]
c=ciu.get_credentials_for_identity(IdentityId=iid, Logins={provider: tok["IdToken"]})
print("credentials:", c["Credentials"]["AccessKeyId"][:4], c["IdentityId"]==iid)
def err(f, **k):
    try: f(**k); return "no error"
    except Exception as e: return str(e)[:160]
print("access token:", err(ciu.get_id, IdentityPoolId=ip, Logins={provider: tok["AccessToken"]}))
print("other client:", err(ciu.get_id, IdentityPoolId=ip, Logins={provider: tok2["IdToken"]}))
pub.global_sign_out(AccessToken=tok["AccessToken"])
print("after global sign-out (SSTC):", err(ciu.get_credentials_for_identity, IdentityId=iid, Logins={provider: tok["IdToken"]}))
ok = (c["IdentityId"] == iid
      and "Missing a required claim: aud" in err(ciu.get_id, IdentityPoolId=ip, Logins={provider: tok["AccessToken"]}))
print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
sys.exit(0 if ok else 1)
