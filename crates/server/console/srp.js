// Cognito's SRP-6a variant (USER_SRP_AUTH → PASSWORD_VERIFIER), as Amplify and
// amazon-cognito-identity-js compute it: 3072-bit group, SHA-256, Java-style padded hex,
// HKDF "Caldera Derived Key". See the server side in crates/userpool/src/srp.rs.
import { sha256, hmac, toHex, fromHex, toBase64, fromBase64, concat } from './crypto.js';

const N = BigInt('0x' +
  'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD' +
  'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED' +
  'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F' +
  '83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B' +
  'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510' +
  '15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7' +
  'ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C' +
  'BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF');
const g = 2n;

/** Hex as Java's BigInteger.toByteArray would give it: even length, a leading 00 byte when the high bit is set. */
export function padHex(n) {
  let h = n.toString(16);
  if (h.length % 2) h = '0' + h;
  if ('89abcdef'.includes(h[0])) h = '00' + h;
  return h;
}

const big = (bytes) => BigInt('0x' + (toHex(bytes) || '0'));
const mod = (a, m) => ((a % m) + m) % m;

function modPow(base, exp, m) {
  let result = 1n;
  base = mod(base, m);
  while (exp > 0n) {
    if (exp & 1n) result = (result * base) % m;
    base = (base * base) % m;
    exp >>= 1n;
  }
  return result;
}

/** `EEE MMM d HH:mm:ss UTC yyyy`, day not zero-padded (Cognito compares the string verbatim). */
export function srpTimestamp(d = new Date()) {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${d.getUTCDate()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
}

/** A client's ephemeral key pair: `a` random (128 bytes), `A = g^a mod N`, A mod N ≠ 0. */
export function newEphemeral() {
  for (;;) {
    const a = big(crypto.getRandomValues(new Uint8Array(128)));
    const A = modPow(g, a, N);
    if (A % N !== 0n) return { a, A, srpA: A.toString(16) };
  }
}

/**
 * The ChallengeResponses for PASSWORD_VERIFIER.
 * @param {object} p { userPoolId, password, ephemeral (from newEphemeral), challenge (ChallengeParameters) }
 */
export async function passwordVerifier({ userPoolId, password, ephemeral, challenge, date }) {
  const poolName = userPoolId.split('_')[1];
  const userId = challenge.USER_ID_FOR_SRP;
  const B = BigInt('0x' + challenge.SRP_B);
  if (B % N === 0n) throw new Error('SRP: the server sent an invalid B');
  const salt = BigInt('0x' + challenge.SALT);
  const k = big(await sha256(fromHex(padHex(N) + padHex(g))));
  const u = big(await sha256(fromHex(padHex(ephemeral.A) + padHex(B))));
  if (u === 0n) throw new Error('SRP: u is zero');
  const inner = toHex(await sha256(`${poolName}${userId}:${password}`));
  const x = big(await sha256(fromHex(padHex(salt) + inner)));
  const S = modPow(mod(B - k * modPow(g, x, N), N), ephemeral.a + u * x, N);
  // HKDF-SHA256 with one output block: PRK = HMAC(salt=u, S); K = HMAC(PRK, info ‖ 0x01)[..16]
  const prk = await hmac(fromHex(padHex(u)), fromHex(padHex(S)));
  const key = (await hmac(prk, concat('Caldera Derived Key', new Uint8Array([1])))).slice(0, 16);
  const timestamp = srpTimestamp(date);
  const sig = await hmac(key, concat(poolName, userId, fromBase64(challenge.SECRET_BLOCK), timestamp));
  return {
    USERNAME: challenge.USERNAME,
    PASSWORD_CLAIM_SECRET_BLOCK: challenge.SECRET_BLOCK,
    TIMESTAMP: timestamp,
    PASSWORD_CLAIM_SIGNATURE: toBase64(sig),
  };
}
