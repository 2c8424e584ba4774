// End-to-end check of cubby's user pools with unmodified JS clients:
// amazon-cognito-identity-js (SRP), @aws-sdk/client-cognito-identity-provider (admin, password,
// refresh), jose (ID token against the JWKS found through discovery), and Amplify v6 signIn.
//
// Usage (from a directory where these npm packages are installed):
//   node js_check.mjs http://127.0.0.1:9301
// Root keys come from CUBBY_ROOT_ACCESS_KEY_ID / CUBBY_ROOT_SECRET_ACCESS_KEY.
import {
  CognitoIdentityProviderClient, CreateUserPoolCommand, CreateUserPoolClientCommand,
  AdminConfirmSignUpCommand, InitiateAuthCommand, GetUserCommand, AdminDisableUserCommand,
  AdminEnableUserCommand, GetTokensFromRefreshTokenCommand, DeleteUserPoolCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { CognitoUserPool, CognitoUser, AuthenticationDetails, CognitoUserAttribute } from 'amazon-cognito-identity-js';
import * as jose from 'jose';

const endpoint = process.argv[2] ?? 'http://127.0.0.1:9301';
const region = 'us-east-1';
let passed = 0;
const check = (name, cond) => {
  if (!cond) { console.log(`FAIL ${name}`); process.exit(1); }
  passed++; console.log(`ok   ${name}`);
};
const admin = new CognitoIdentityProviderClient({
  region, endpoint,
  credentials: { accessKeyId: process.env.CUBBY_ROOT_ACCESS_KEY_ID, secretAccessKey: process.env.CUBBY_ROOT_SECRET_ACCESS_KEY },
});
const anon = new CognitoIdentityProviderClient({
  region, endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, // unsigned ops ignore them
});

const { UserPool } = await admin.send(new CreateUserPoolCommand({ PoolName: 'js-e2e', AutoVerifiedAttributes: ['email'] }));
const { UserPoolClient } = await admin.send(new CreateUserPoolClientCommand({
  UserPoolId: UserPool.Id, ClientName: 'web',
  ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
}));
check('admin CreateUserPool/CreateUserPoolClient (SigV4)', UserPool.Id.startsWith('us-east-1_'));

// amazon-cognito-identity-js: sign up + SRP sign-in.
const pool = new CognitoUserPool({ UserPoolId: UserPool.Id, ClientId: UserPoolClient.ClientId, endpoint });
const username = 'js' + Math.random().toString(36).slice(2, 10);
const password = 'Passw0rd!js';
const signUp = await new Promise((res, rej) => pool.signUp(username, password,
  [new CognitoUserAttribute({ Name: 'email', Value: `${username}@example.com` })], null,
  (err, r) => err ? rej(err) : res(r)));
check('amazon-cognito-identity-js signUp', signUp.userSub.length === 36 && signUp.userConfirmed === false);
await admin.send(new AdminConfirmSignUpCommand({ UserPoolId: UserPool.Id, Username: username }));

const srpSignIn = (pw) => new Promise((resolve) => {
  const user = new CognitoUser({ Username: username, Pool: pool });
  user.authenticateUser(new AuthenticationDetails({ Username: username, Password: pw }), {
    onSuccess: (session) => resolve({ session }),
    onFailure: (err) => resolve({ err }),
  });
});
const ok = await srpSignIn(password);
check('amazon-cognito-identity-js authenticateUser (USER_SRP_AUTH)', ok.session && ok.session.isValid());
const bad = await srpSignIn('Wrong0rd!js');
check('wrong password → NotAuthorizedException', bad.err?.code === 'NotAuthorizedException'
  && bad.err.message === 'Incorrect username or password.');

// jose: verify the ID token against the JWKS, found through discovery from iss.
const idToken = ok.session.getIdToken().getJwtToken();
const iss = jose.decodeJwt(idToken).iss;
const disc = await (await fetch(`${iss}/.well-known/openid-configuration`)).json();
const JWKS = jose.createRemoteJWKSet(new URL(disc.jwks_uri));
const { payload } = await jose.jwtVerify(idToken, JWKS, { issuer: iss, audience: UserPoolClient.ClientId });
check('jose jwtVerify(ID token, JWKS from discovery)', payload.token_use === 'id'
  && payload['cognito:username'] === username && payload.email_verified === false);
const tampered = idToken.slice(0, -4) + (idToken.endsWith('AAAA') ? 'BBBB' : 'AAAA');
let tamperedOk = true;
try { await jose.jwtVerify(tampered, JWKS, { issuer: iss }); } catch { tamperedOk = false; }
check('tampered token fails verification', !tamperedOk);

// SDK v3: USER_PASSWORD_AUTH, GetUser, refresh, disabled user.
const pw = await anon.send(new InitiateAuthCommand({ ClientId: UserPoolClient.ClientId, AuthFlow: 'USER_PASSWORD_AUTH',
  AuthParameters: { USERNAME: username, PASSWORD: password } }));
check('SDK v3 USER_PASSWORD_AUTH', !!pw.AuthenticationResult.IdToken);
const me = await anon.send(new GetUserCommand({ AccessToken: pw.AuthenticationResult.AccessToken }));
check('SDK v3 GetUser', me.Username === username);
const rt = await anon.send(new InitiateAuthCommand({ ClientId: UserPoolClient.ClientId, AuthFlow: 'REFRESH_TOKEN_AUTH',
  AuthParameters: { REFRESH_TOKEN: pw.AuthenticationResult.RefreshToken } }));
check('SDK v3 REFRESH_TOKEN_AUTH', !!rt.AuthenticationResult.AccessToken && !rt.AuthenticationResult.RefreshToken);
const gt = await anon.send(new GetTokensFromRefreshTokenCommand({ ClientId: UserPoolClient.ClientId,
  RefreshToken: pw.AuthenticationResult.RefreshToken }));
check('SDK v3 GetTokensFromRefreshToken', !!gt.AuthenticationResult.IdToken);
await admin.send(new AdminDisableUserCommand({ UserPoolId: UserPool.Id, Username: username }));
try {
  await anon.send(new InitiateAuthCommand({ ClientId: UserPoolClient.ClientId, AuthFlow: 'USER_PASSWORD_AUTH',
    AuthParameters: { USERNAME: username, PASSWORD: password } }));
  check('disabled user refused', false);
} catch (e) { check('disabled user refused', e.name === 'NotAuthorizedException' && e.message === 'User is disabled.'); }
await admin.send(new AdminEnableUserCommand({ UserPoolId: UserPool.Id, Username: username }));

// Amplify v6 signIn (SRP) + fetchAuthSession + fetchUserAttributes + signOut.
try {
  const { Amplify } = await import('aws-amplify');
  const auth = await import('aws-amplify/auth');
  Amplify.configure({ Auth: { Cognito: { userPoolId: UserPool.Id, userPoolClientId: UserPoolClient.ClientId,
    userPoolEndpoint: endpoint } } });
  const r = await auth.signIn({ username, password });
  check('Amplify v6 signIn (USER_SRP_AUTH)', r.isSignedIn === true);
  const s = await auth.fetchAuthSession();
  check('Amplify v6 fetchAuthSession (tokens)', s.tokens?.idToken?.payload?.sub === payload.sub);
  const attrs = await auth.fetchUserAttributes();
  check('Amplify v6 fetchUserAttributes (GetUser)', attrs.email === `${username}@example.com`);
  const s2 = await auth.fetchAuthSession({ forceRefresh: true });
  check('Amplify v6 forceRefresh (GetTokensFromRefreshToken)', !!s2.tokens?.accessToken);
  await auth.signOut();
  check('Amplify v6 signOut (RevokeToken)', true);
} catch (e) {
  console.log('Amplify v6 error:', e.name, e.message);
  process.exit(1);
}
await admin.send(new DeleteUserPoolCommand({ UserPoolId: UserPool.Id }));
console.log(`${passed} passed, 0 failed`);
