// userpool-e2e.mjs — cubby's user pools end to end with unmodified JS clients, configured only
// through the AWS APIs with the root keys (as an operator would with the CLI / CDK):
//   Cognito IDP  CreateUserPool, CreateUserPoolClient x2 (the second is not listed by the
//                identity pool), AdminConfirmSignUp, AdminDisableUser
//   S3           CreateBucket
//   Cognito Id.  CreateIdentityPool (CognitoIdentityProviders [{ProviderName: iss minus scheme,
//                ClientId}]), SetIdentityPoolRoles
//   IAM          CreateRole (Cognito trust policy), PutRolePolicy (own folder
//                private/${cognito-identity.amazonaws.com:sub}/*)
// then signs up, confirms and signs in with amazon-cognito-identity-js (SRP), the SDK v3
// (USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH) and Amplify v6, verifies the ID token with jose
// against the JWKS found through discovery, exchanges it for credentials in the identity pool
// and uploads into the user's own folder — and checks that each wrong input is refused with
// Cognito's error name and message.
//
// env:
//   ENDPOINT                             e.g. http://127.0.0.1:9000 (required)
//   ADMIN_ACCESS_KEY / ADMIN_SECRET_KEY  root keys (required)
//   REGION                               default us-east-1
//   SERVER_LOG                           optional: the server's log file; the first sign-up is
//                                        then confirmed with the code the server logged
//                                        (ConfirmSignUp), else with AdminConfirmSignUp
//   SKIP_AMPLIFY=1                       report the Amplify v6 checks as SKIP
//   CHECK_TIMEOUT_MS                     per-check timeout (default 30000)
//
// Prints one PASS/FAIL/SKIP line per check and a final "N passed, N failed" line; exits 1 if
// any check failed.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  CognitoIdentityProviderClient, CreateUserPoolCommand, CreateUserPoolClientCommand,
  AdminConfirmSignUpCommand, AdminDisableUserCommand, SignUpCommand, InitiateAuthCommand,
  DeleteUserPoolCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import {
  CognitoIdentityClient, CreateIdentityPoolCommand, SetIdentityPoolRolesCommand, GetIdCommand,
  DeleteIdentityPoolCommand,
} from '@aws-sdk/client-cognito-identity';
import { fromCognitoIdentityPool } from '@aws-sdk/credential-provider-cognito-identity';
import { IAMClient, CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { S3Client, CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CognitoUserPool, CognitoUser, AuthenticationDetails, CognitoUserAttribute,
} from 'amazon-cognito-identity-js';
import * as jose from 'jose';

const ENDPOINT = must('ENDPOINT').replace(/\/+$/, '');
const region = process.env.REGION || 'us-east-1';
const rootCredentials = { accessKeyId: must('ADMIN_ACCESS_KEY'), secretAccessKey: must('ADMIN_SECRET_KEY') };
const SERVER_LOG = process.env.SERVER_LOG || '';
const SKIP_AMPLIFY = process.env.SKIP_AMPLIFY === '1';
const TIMEOUT = Number(process.env.CHECK_TIMEOUT_MS || 30000);

function must(name) {
  const v = process.env[name];
  if (!v) { console.error(`missing env ${name}`); process.exit(2); }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------
let passed = 0, failed = 0, skipped = 0;

async function check(name, fn) {
  let timer;
  try {
    const info = await Promise.race([
      fn(),
      new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timeout after ${TIMEOUT} ms`)), TIMEOUT); }),
    ]);
    passed++;
    console.log(`PASS ${name}${info ? ' — ' + info : ''}`);
    return true;
  } catch (e) {
    failed++;
    console.log(`FAIL ${name} — ${describe(e)}`);
    return false;
  } finally { clearTimeout(timer); }
}

function skip(name, why) { skipped++; console.log(`SKIP ${name} (${why})`); }

function describe(e) {
  const status = e?.$metadata?.httpStatusCode ?? e?.statusCode;
  const name = e?.name && e.name !== 'Error' ? e.name : (e?.code || e?.name || 'Error');
  return `${name}${status ? ' (HTTP ' + status + ')' : ''}: ${String(e?.message || e).slice(0, 300)}`;
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

/** A value an earlier check was to produce. */
function need(v, what) {
  if (v === undefined || v === null) {
    throw Object.assign(new Error(`prerequisite missing: ${what} (an earlier check failed)`), { prerequisite: true });
  }
  return v;
}

/** `fn` must fail with exactly this error name (SDK `name`, or `code` of
 * amazon-cognito-identity-js) and message. */
async function expectError(fn, name, message, status = 400) {
  let result;
  try {
    result = await fn();
  } catch (e) {
    if (e?.prerequisite) throw e;
    const got = e?.name && e.name !== 'Error' ? e.name : e?.code;
    const gotStatus = e?.$metadata?.httpStatusCode ?? e?.statusCode;
    assert(got === name && e.message === message,
      `expected ${name}: "${message}", got ${got}: "${e?.message}"`);
    if (gotStatus !== undefined) assert(gotStatus === status, `expected HTTP ${status}, got ${gotStatus}`);
    return `${name}${gotStatus ? ' (HTTP ' + gotStatus + ')' : ''}: ${message}`;
  }
  throw new Error(`succeeded but should have failed with ${name} (${JSON.stringify(result)?.slice(0, 120)})`);
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------
const admin = { region, endpoint: ENDPOINT, credentials: rootCredentials };
const idpAdmin = new CognitoIdentityProviderClient(admin);
// End-user operations are unsigned (noAuth in the SDK model): no credentials configured at all.
const idp = new CognitoIdentityProviderClient({ region, endpoint: ENDPOINT });
const ciAdmin = new CognitoIdentityClient(admin);
const ci = new CognitoIdentityClient({ region, endpoint: ENDPOINT });
const iam = new IAMClient(admin);
const s3Admin = new S3Client({ ...admin, forcePathStyle: true });

const suffix = randomBytes(4).toString('hex');
const bucket = `userpool-e2e-${suffix}`;
const password = `Passw0rd!${suffix}`;
const alice = `alice-${suffix}`;
const bob = `bob-${suffix}`;
const ctx = {}; // values later checks build on

// amazon-cognito-identity-js wraps callbacks; these make them promises.
const signUpJs = (pool, username, pw, email) => new Promise((resolve, reject) => pool.signUp(
  username, pw, [new CognitoUserAttribute({ Name: 'email', Value: email })], null,
  (err, r) => (err ? reject(err) : resolve(r))));
const confirmJs = (pool, username, code) => new Promise((resolve, reject) =>
  new CognitoUser({ Username: username, Pool: pool }).confirmRegistration(code, false,
    (err, r) => (err ? reject(err) : resolve(r))));
const srpSignIn = (pool, username, pw) => new Promise((resolve, reject) => {
  const user = new CognitoUser({ Username: username, Pool: pool });
  const unexpected = (what) => () => reject(new Error(`unexpected challenge: ${what}`));
  user.authenticateUser(new AuthenticationDetails({ Username: username, Password: pw }), {
    onSuccess: resolve,
    onFailure: reject,
    newPasswordRequired: unexpected('NEW_PASSWORD_REQUIRED'),
    mfaRequired: unexpected('SMS_MFA'),
    totpRequired: unexpected('SOFTWARE_TOKEN_MFA'),
    customChallenge: unexpected('CUSTOM_CHALLENGE'),
    mfaSetup: unexpected('MFA_SETUP'),
    selectMFAType: unexpected('SELECT_MFA_TYPE'),
  });
});
const passwordAuth = (clientId, username, pw) => idp.send(new InitiateAuthCommand({
  ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: username, PASSWORD: pw } }));

/** The sign-up code the server logged for `username` (its default code delivery). */
async function loggedCode(username) {
  for (let i = 0; i < 40; i++) {
    // eslint-disable-next-line no-control-regex
    const log = readFileSync(SERVER_LOG, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
    const line = log.split('\n').reverse().find((l) => l.includes('user-pool code')
      && l.includes(`username=${username} `) && l.includes('kind=SignUp'));
    const code = line?.match(/\bcode=(\S+)/)?.[1];
    if (code) return code;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no sign-up code for ${username} in ${SERVER_LOG}`);
}

/** Identity-pool credentials for an ID token, the way the seed's JS v3 code gets them. */
async function credentialsFor(idToken) {
  const p = need(ctx.provider, 'identity pool');
  const creds = await fromCognitoIdentityPool({
    client: ci, identityPoolId: need(ctx.identityPoolId, 'identity pool'), logins: { [p]: idToken },
  })();
  assert(creds.identityId?.startsWith(`${region}:`), `identityId ${creds.identityId}`);
  assert(creds.accessKeyId?.startsWith('ASIA') && creds.sessionToken, 'no session credentials');
  return creds;
}

async function expectAccessDenied(promise) {
  try {
    await promise;
  } catch (e) {
    const status = e?.$metadata?.httpStatusCode;
    if (e?.name === 'AccessDenied' && status === 403) return 'AccessDenied (HTTP 403)';
    throw new Error(`expected AccessDenied/403, got ${e?.name} (HTTP ${status}): ${e?.message}`);
  }
  throw new Error('succeeded but should have been denied (AccessDenied)');
}

const userS3 = (creds) => new S3Client({ region, endpoint: ENDPOINT, forcePathStyle: true, credentials: creds });

// ---------------------------------------------------------------------------------------------
// Set-up through the AWS APIs, root keys
// ---------------------------------------------------------------------------------------------
const flows = ['ALLOW_USER_SRP_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'];
await check('setup: CreateUserPool + CreateUserPoolClient x2 (SigV4, root keys)', async () => {
  const { UserPool } = await idpAdmin.send(new CreateUserPoolCommand({
    PoolName: `e2e-${suffix}`, AutoVerifiedAttributes: ['email'] }));
  assert(/^[a-z]{2}-[a-z]+-\d_[A-Za-z0-9]+$/.test(UserPool.Id), `pool id ${UserPool.Id}`);
  const web = await idpAdmin.send(new CreateUserPoolClientCommand({
    UserPoolId: UserPool.Id, ClientName: 'web', ExplicitAuthFlows: flows }));
  const other = await idpAdmin.send(new CreateUserPoolClientCommand({
    UserPoolId: UserPool.Id, ClientName: 'other', ExplicitAuthFlows: flows }));
  ctx.userPoolId = UserPool.Id;
  ctx.clientId = web.UserPoolClient.ClientId;
  ctx.otherClientId = other.UserPoolClient.ClientId;
  // The issuer as the pool publishes it; the identity pool's provider name is it minus scheme.
  const disc = await (await fetch(`${ENDPOINT}/${UserPool.Id}/.well-known/openid-configuration`)).json();
  assert(disc.issuer?.endsWith(`/${UserPool.Id}`), `discovery issuer ${disc.issuer}`);
  ctx.issuer = disc.issuer;
  ctx.provider = disc.issuer.replace(/^\w+:\/\//, '');
  return `pool ${UserPool.Id}, provider ${ctx.provider}`;
});

await check('setup: S3 CreateBucket, CreateIdentityPool, IAM role + own-folder policy, SetIdentityPoolRoles', async () => {
  await s3Admin.send(new CreateBucketCommand({ Bucket: bucket }));
  const pool = await ciAdmin.send(new CreateIdentityPoolCommand({
    IdentityPoolName: `e2e_${suffix}`, AllowUnauthenticatedIdentities: false,
    CognitoIdentityProviders: [{ ProviderName: need(ctx.provider, 'user pool'), ClientId: ctx.clientId }],
  }));
  ctx.identityPoolId = pool.IdentityPoolId;
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{
    Effect: 'Allow', Principal: { Federated: 'cognito-identity.amazonaws.com' },
    Action: 'sts:AssumeRoleWithWebIdentity',
    Condition: { StringEquals: { 'cognito-identity.amazonaws.com:aud': pool.IdentityPoolId },
                 'ForAnyValue:StringLike': { 'cognito-identity.amazonaws.com:amr': 'authenticated' } } }] });
  const role = await iam.send(new CreateRoleCommand({ RoleName: `E2eAuth${suffix}`, AssumeRolePolicyDocument: trust }));
  await iam.send(new PutRolePolicyCommand({ RoleName: role.Role.RoleName, PolicyName: 'own-folder',
    PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{
      Effect: 'Allow', Action: ['s3:PutObject', 's3:GetObject'],
      Resource: [`arn:aws:s3:::${bucket}/private/\${cognito-identity.amazonaws.com:sub}/*`] }] }) }));
  await ciAdmin.send(new SetIdentityPoolRolesCommand({ IdentityPoolId: pool.IdentityPoolId,
    Roles: { authenticated: role.Role.Arn } }));
  return `bucket ${bucket}, identity pool ${pool.IdentityPoolId}`;
});

const userPool = ctx.userPoolId
  ? new CognitoUserPool({ UserPoolId: ctx.userPoolId, ClientId: ctx.clientId, endpoint: ENDPOINT })
  : null;

// ---------------------------------------------------------------------------------------------
// Sign-up and confirmation
// ---------------------------------------------------------------------------------------------
await check('amazon-cognito-identity-js signUp', async () => {
  const r = await signUpJs(need(userPool, 'user pool'), alice, password, `${alice}@example.com`);
  assert(/^[0-9a-f-]{36}$/.test(r.userSub), `userSub ${r.userSub}`);
  assert(r.userConfirmed === false, 'userConfirmed should be false');
  ctx.aliceSub = r.userSub;
  return `userSub ${r.userSub}, code via ${r.codeDeliveryDetails?.DeliveryMedium} to ${r.codeDeliveryDetails?.Destination}`;
});

await check('SDK v3 SignUp (second user)', async () => {
  const r = await idp.send(new SignUpCommand({ ClientId: need(ctx.clientId, 'client'), Username: bob, Password: password,
    UserAttributes: [{ Name: 'email', Value: `${bob}@example.com` }] }));
  assert(r.UserConfirmed === false && r.UserSub, 'unexpected SignUp answer');
  ctx.bobSub = r.UserSub;
});

await check('SignUp of an existing username → UsernameExistsException', () => expectError(
  () => signUpJs(need(userPool, 'user pool'), alice, password, `${alice}@example.com`),
  'UsernameExistsException', 'User already exists'));

await check('unconfirmed user, SRP sign-in → UserNotConfirmedException', () => expectError(
  () => srpSignIn(need(userPool, 'user pool'), alice, password),
  'UserNotConfirmedException', 'User is not confirmed.'));

await check('unconfirmed user, USER_PASSWORD_AUTH → UserNotConfirmedException', () => expectError(
  () => passwordAuth(need(ctx.clientId, 'client'), alice, password),
  'UserNotConfirmedException', 'User is not confirmed.'));

await check('ConfirmSignUp with a wrong code → CodeMismatchException', () => expectError(
  () => confirmJs(need(userPool, 'user pool'), alice, '000000x'),
  'CodeMismatchException', 'Invalid verification code provided, please try again.'));

if (SERVER_LOG) {
  await check('amazon-cognito-identity-js confirmRegistration (ConfirmSignUp, code from the server log)', async () => {
    const code = await loggedCode(alice);
    const r = await confirmJs(need(userPool, 'user pool'), alice, code);
    assert(r === 'SUCCESS', `confirmRegistration answered ${r}`);
    return `code ${code.replace(/./g, '•')}`;
  });
} else {
  await check('AdminConfirmSignUp (root keys)', async () => {
    await idpAdmin.send(new AdminConfirmSignUpCommand({ UserPoolId: need(ctx.userPoolId, 'user pool'), Username: alice }));
  });
}
await check('AdminConfirmSignUp of the second user (root keys)', async () => {
  await idpAdmin.send(new AdminConfirmSignUpCommand({ UserPoolId: need(ctx.userPoolId, 'user pool'), Username: bob }));
});

// ---------------------------------------------------------------------------------------------
// Sign-in and tokens
// ---------------------------------------------------------------------------------------------
await check('amazon-cognito-identity-js authenticateUser (USER_SRP_AUTH)', async () => {
  const session = await srpSignIn(need(userPool, 'user pool'), alice, password);
  assert(session.isValid(), 'session not valid');
  ctx.srpIdToken = session.getIdToken().getJwtToken();
  ctx.srpAccessToken = session.getAccessToken().getJwtToken();
  assert(session.getRefreshToken().getToken(), 'no refresh token');
  const claims = session.getIdToken().decodePayload();
  assert(claims.sub === ctx.aliceSub, `sub ${claims.sub} != ${ctx.aliceSub}`);
  return `ID token for ${claims['cognito:username']}, expires in ${claims.exp - claims.iat} s`;
});

await check('wrong password, SRP → NotAuthorizedException', () => expectError(
  () => srpSignIn(need(userPool, 'user pool'), alice, 'Wr0ng!password'),
  'NotAuthorizedException', 'Incorrect username or password.'));

await check('wrong password, USER_PASSWORD_AUTH → NotAuthorizedException', () => expectError(
  () => passwordAuth(need(ctx.clientId, 'client'), alice, 'Wr0ng!password'),
  'NotAuthorizedException', 'Incorrect username or password.'));

await check('unknown user → NotAuthorizedException (no user-existence errors)', () => expectError(
  () => passwordAuth(need(ctx.clientId, 'client'), `nobody-${suffix}`, password),
  'NotAuthorizedException', 'Incorrect username or password.'));

await check('SDK v3 InitiateAuth USER_PASSWORD_AUTH', async () => {
  const r = await passwordAuth(need(ctx.clientId, 'client'), alice, password);
  const a = r.AuthenticationResult;
  assert(a?.IdToken && a.AccessToken && a.RefreshToken, 'missing tokens');
  assert(a.TokenType === 'Bearer' && a.ExpiresIn === 3600, `TokenType ${a.TokenType} ExpiresIn ${a.ExpiresIn}`);
  ctx.idToken = a.IdToken;
  ctx.accessToken = a.AccessToken;
  ctx.refreshToken = a.RefreshToken;
});

await check('SDK v3 InitiateAuth REFRESH_TOKEN_AUTH', async () => {
  const r = await idp.send(new InitiateAuthCommand({ ClientId: need(ctx.clientId, 'client'),
    AuthFlow: 'REFRESH_TOKEN_AUTH', AuthParameters: { REFRESH_TOKEN: need(ctx.refreshToken, 'refresh token') } }));
  const a = r.AuthenticationResult;
  assert(a?.IdToken && a.AccessToken, 'missing tokens');
  assert(!a.RefreshToken, 'REFRESH_TOKEN_AUTH must not return a new refresh token');
  const old = jose.decodeJwt(ctx.idToken), fresh = jose.decodeJwt(a.IdToken);
  assert(fresh.sub === old.sub && fresh.origin_jti === old.origin_jti && fresh.jti !== old.jti,
    'refreshed ID token should keep sub and origin_jti and have a new jti');
  ctx.refreshedIdToken = a.IdToken;
});

await check('jose jwtVerify: ID token against the JWKS found through discovery from iss', async () => {
  const token = need(ctx.srpIdToken, 'SRP ID token');
  const { iss } = jose.decodeJwt(token);
  assert(iss === ctx.issuer, `iss ${iss} != discovery issuer ${ctx.issuer}`);
  const disc = await (await fetch(`${iss}/.well-known/openid-configuration`)).json();
  assert(disc.issuer === iss && disc.id_token_signing_alg_values_supported?.includes('RS256'), 'discovery document');
  ctx.jwks = jose.createRemoteJWKSet(new URL(disc.jwks_uri));
  const { payload, protectedHeader } = await jose.jwtVerify(token, ctx.jwks,
    { issuer: iss, audience: ctx.clientId, algorithms: ['RS256'] });
  assert(protectedHeader.kid, 'no kid');
  assert(payload.token_use === 'id' && payload['cognito:username'] === alice && payload.sub === ctx.aliceSub,
    'claims token_use/cognito:username/sub');
  assert(payload.email === `${alice}@example.com` && typeof payload.email_verified === 'boolean', 'email claims');
  for (const c of ['auth_time', 'iat', 'exp', 'jti', 'origin_jti']) assert(payload[c] !== undefined, `missing ${c}`);
  for (const t of [ctx.idToken, ctx.refreshedIdToken]) {
    await jose.jwtVerify(need(t, 'SDK v3 ID tokens'), ctx.jwks, { issuer: iss, audience: ctx.clientId });
  }
  return `kid ${protectedHeader.kid}, jwks_uri ${disc.jwks_uri}`;
});

await check('jose jwtVerify: access token (token_use access, client_id, no aud)', async () => {
  const { payload } = await jose.jwtVerify(need(ctx.srpAccessToken, 'access token'), need(ctx.jwks, 'JWKS'),
    { issuer: ctx.issuer });
  assert(payload.token_use === 'access' && payload.client_id === ctx.clientId && payload.aud === undefined,
    'access-token claims');
  assert(payload.username === alice && payload.scope === 'aws.cognito.signin.user.admin', 'username/scope');
});

// A token whose payload was altered (another user's sub) but kept the original signature.
const tamper = (token) => {
  const [h, , s] = token.split('.');
  const claims = { ...jose.decodeJwt(token), sub: ctx.bobSub ?? '00000000-0000-4000-8000-000000000000' };
  return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
};

await check('tampered ID token fails jose verification', async () => {
  try {
    await jose.jwtVerify(tamper(need(ctx.srpIdToken, 'ID token')), need(ctx.jwks, 'JWKS'), { issuer: ctx.issuer });
  } catch (e) {
    assert(e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', `unexpected ${e.code}`);
    return e.code;
  }
  throw new Error('tampered token verified');
});

// ---------------------------------------------------------------------------------------------
// Identity pool → credentials → own folder
// ---------------------------------------------------------------------------------------------
await check('Logins → identity pool (fromCognitoIdentityPool) → credentials', async () => {
  ctx.aliceCreds = await credentialsFor(need(ctx.srpIdToken, 'ID token'));
  return `identityId ${ctx.aliceCreds.identityId}, ${ctx.aliceCreds.accessKeyId.slice(0, 4)}…`;
});

await check('the refreshed ID token maps to the same identity', async () => {
  const c = await credentialsFor(need(ctx.refreshedIdToken, 'refreshed ID token'));
  assert(c.identityId === need(ctx.aliceCreds, 'credentials').identityId, `${c.identityId} != ${ctx.aliceCreds.identityId}`);
});

await check('S3 PutObject into private/<identityId>/ allowed', async () => {
  const c = need(ctx.aliceCreds, 'credentials');
  const key = `private/${c.identityId}/hello.txt`;
  const r = await userS3(c).send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'hello from alice' }));
  assert(r.ETag, 'no ETag');
  return key;
});

await check('second user: SRP sign-in → own identity → own folder', async () => {
  const session = await srpSignIn(need(userPool, 'user pool'), bob, password);
  ctx.bobCreds = await credentialsFor(session.getIdToken().getJwtToken());
  assert(ctx.bobCreds.identityId !== ctx.aliceCreds?.identityId, 'both users got the same identity');
  await userS3(ctx.bobCreds).send(new PutObjectCommand({ Bucket: bucket,
    Key: `private/${ctx.bobCreds.identityId}/hello.txt`, Body: 'hello from bob' }));
  return `identityId ${ctx.bobCreds.identityId}`;
});

await check("S3 PutObject into another user's folder denied", async () => {
  const other = need(ctx.bobCreds, "second user's identity").identityId;
  return expectAccessDenied(userS3(need(ctx.aliceCreds, 'credentials')).send(new PutObjectCommand({
    Bucket: bucket, Key: `private/${other}/from-alice.txt`, Body: 'not yours' })));
});

await check('S3 PutObject outside private/ denied', () => expectAccessDenied(
  userS3(need(ctx.aliceCreds, 'credentials')).send(new PutObjectCommand({
    Bucket: bucket, Key: 'public/anything.txt', Body: 'x' }))));

// ---------------------------------------------------------------------------------------------
// Tokens the identity pool must refuse
// ---------------------------------------------------------------------------------------------
const getId = (token) => ci.send(new GetIdCommand({ IdentityPoolId: need(ctx.identityPoolId, 'identity pool'),
  Logins: { [need(ctx.provider, 'provider')]: token } }));

await check('identity pool: tampered ID token → NotAuthorizedException', () => expectError(
  () => getId(tamper(need(ctx.srpIdToken, 'ID token'))),
  'NotAuthorizedException', "Invalid login token. Couldn't verify signed token."));

await check('identity pool: access token in place of the ID token → NotAuthorizedException', () => expectError(
  () => getId(need(ctx.srpAccessToken, 'access token')),
  'NotAuthorizedException', 'Invalid login token. Missing a required claim: aud'));

await check('identity pool: ID token of a client it does not list → NotAuthorizedException', async () => {
  const r = await passwordAuth(need(ctx.otherClientId, 'second client'), alice, password);
  assert(jose.decodeJwt(r.AuthenticationResult.IdToken).aud === ctx.otherClientId, 'aud');
  return expectError(() => getId(r.AuthenticationResult.IdToken),
    'NotAuthorizedException', 'Token is not from a supported provider of this identity pool.');
});

// ---------------------------------------------------------------------------------------------
// Disabled user
// ---------------------------------------------------------------------------------------------
await check('AdminDisableUser (root keys)', async () => {
  await idpAdmin.send(new AdminDisableUserCommand({ UserPoolId: need(ctx.userPoolId, 'user pool'), Username: bob }));
});

await check('disabled user, SRP sign-in → NotAuthorizedException', () => expectError(
  () => srpSignIn(need(userPool, 'user pool'), bob, password),
  'NotAuthorizedException', 'User is disabled.'));

await check('disabled user, USER_PASSWORD_AUTH → NotAuthorizedException', () => expectError(
  () => passwordAuth(need(ctx.clientId, 'client'), bob, password),
  'NotAuthorizedException', 'User is disabled.'));

// ---------------------------------------------------------------------------------------------
// Amplify v6 (Node, endpoint overrides)
// ---------------------------------------------------------------------------------------------
if (SKIP_AMPLIFY) {
  skip('Amplify v6 signIn + fetchAuthSession', 'SKIP_AMPLIFY=1');
} else {
  let auth;
  await check('Amplify v6 signIn (USER_SRP_AUTH, userPoolEndpoint)', async () => {
    const { Amplify } = await import('aws-amplify');
    auth = await import('aws-amplify/auth');
    Amplify.configure({ Auth: { Cognito: {
      userPoolId: need(ctx.userPoolId, 'user pool'), userPoolClientId: ctx.clientId, userPoolEndpoint: ENDPOINT,
      identityPoolId: need(ctx.identityPoolId, 'identity pool'), identityPoolEndpoint: ENDPOINT,
      allowGuestAccess: false } } });
    const r = await auth.signIn({ username: alice, password });
    assert(r.isSignedIn === true && r.nextStep?.signInStep === 'DONE', `nextStep ${r.nextStep?.signInStep}`);
  });
  await check('Amplify v6 fetchAuthSession (tokens + identity-pool credentials) → own folder', async () => {
    need(auth, 'Amplify signIn');
    const s = await auth.fetchAuthSession();
    assert(s.tokens?.idToken?.payload?.sub === ctx.aliceSub, 'ID token sub');
    assert(s.identityId === need(ctx.aliceCreds, 'credentials').identityId,
      `identityId ${s.identityId} != ${ctx.aliceCreds.identityId}`);
    assert(s.credentials?.accessKeyId?.startsWith('ASIA'), 'no credentials');
    await userS3(s.credentials).send(new PutObjectCommand({ Bucket: bucket,
      Key: `private/${s.identityId}/amplify.txt`, Body: 'hello from Amplify' }));
    await auth.signOut();
    return `identityId ${s.identityId}`;
  });
}

// ---------------------------------------------------------------------------------------------
// Clean-up (best effort; the server is thrown away anyway)
// ---------------------------------------------------------------------------------------------
try {
  if (ctx.identityPoolId) await ciAdmin.send(new DeleteIdentityPoolCommand({ IdentityPoolId: ctx.identityPoolId }));
  if (ctx.userPoolId) await idpAdmin.send(new DeleteUserPoolCommand({ UserPoolId: ctx.userPoolId }));
} catch (e) {
  console.error(`clean-up: ${describe(e)}`);
}

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
