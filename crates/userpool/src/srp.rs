//! Cognito's SRP-6a variant (SPEC.md §6.4), as Amplify's `utils/srp/*`,
//! amazon-cognito-identity-js and pycognito's `aws_srp.py` compute it.
//!
//! Pure arithmetic: randomness and time come in as parameters. Big numbers
//! travel as lower-case hex; every hash over a hex string hashes the
//! *decoded bytes* of its canonical [`pad_hex`] form.

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Choice, CtAssign, Odd, U3072};
use hmac::{Hmac, Mac};
use num_bigint_dig::BigUint;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;
use subtle::ConstantTimeEq;

/// The 3072-bit MODP prime of RFC 3526 (group 15) / RFC 5054.
const N_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D",
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D",
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9",
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64",
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6B",
    "F12FFA06D98A0864D87602733EC86A64521F2B18177B200C",
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB31",
    "43DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
);

/// The group: prime `N`, generator `g = 2` and the multiplier `k`.
pub struct Group {
    /// The prime modulus.
    pub n: BigUint,
    /// The generator (2).
    pub g: BigUint,
    /// `k = H(padHex(N) ‖ padHex(g))`.
    pub k: BigUint,
}

/// The one group Cognito uses.
pub static GROUP: LazyLock<Group> = LazyLock::new(|| {
    let n = BigUint::parse_bytes(N_HEX.as_bytes(), 16).unwrap_or_default();
    let g = BigUint::from(2u32);
    let k = hash_hex_concat(&[&pad_hex(&n), &pad_hex(&g)]);
    Group { n, g, k }
});

/// `N` prepared for Montgomery arithmetic (`None` only if `N` were even, which it is not).
static MONTY: LazyLock<Option<FixedMontyParams<{ U3072::LIMBS }>>> = LazyLock::new(|| {
    let n = U3072::from_be_slice(&fixed_be::<384>(&GROUP.n)?);
    Option::from(Odd::new(n)).map(FixedMontyParams::new_vartime)
});

/// `x` as exactly `LEN` big-endian bytes, `None` if it does not fit.
fn fixed_be<const LEN: usize>(x: &BigUint) -> Option<[u8; LEN]> {
    let bytes = x.to_bytes_be();
    let mut out = [0u8; LEN];
    let start = LEN.checked_sub(bytes.len())?;
    out[start..].copy_from_slice(&bytes);
    Some(out)
}

/// `x mod N` in Montgomery form.
fn monty(
    x: &BigUint,
    params: &FixedMontyParams<{ U3072::LIMBS }>,
) -> Option<FixedMontyForm<{ U3072::LIMBS }>> {
    let reduced = fixed_be::<384>(&(x % &GROUP.n))?;
    Some(FixedMontyForm::new(&U3072::from_be_slice(&reduced), params))
}

/// Four-bit windows of a 256-bit exponent.
const G_WINDOWS: usize = 64;

/// `G_TABLE[i][j] = g^(j · 16^i) mod N` in Montgomery form: every power of `g` that a 256-bit
/// exponent's `i`-th four-bit window can contribute. 64 × 16 × 384 bytes = 384 KiB, built
/// (about 1000 multiplications) on the first sign-in.
static G_TABLE: LazyLock<Option<Vec<[U3072; 16]>>> = LazyLock::new(|| {
    let params = MONTY.as_ref()?;
    // g^(16^i), starting at g.
    let mut base = monty(&GROUP.g, params)?;
    let mut table = Vec::with_capacity(G_WINDOWS);
    for _ in 0..G_WINDOWS {
        let mut row = [U3072::ZERO; 16];
        let mut power = FixedMontyForm::one(params);
        for entry in &mut row {
            *entry = power.to_montgomery();
            power *= &base;
        }
        // After the row, `power` is base^16 = g^(16^(i+1)).
        table.push(row);
        base = power;
    }
    Some(table)
});

/// `g^exp mod N` for a secret exponent of at most 256 bits, from [`G_TABLE`]: one
/// multiplication per four-bit window (64) instead of the 256 squarings and 64 multiplications
/// of a generic exponentiation. Constant time: the operations and the memory they touch do
/// not depend on `exp` (so `b` cannot be read from response times); every window reads all 16
/// entries of its row and keeps one by a constant-time assignment.
fn pow_g_ct(exp: &BigUint, pause: &mut dyn FnMut()) -> Option<BigUint> {
    let params = MONTY.as_ref()?;
    let table = G_TABLE.as_ref()?;
    let be = fixed_be::<32>(exp)?;
    let mut acc = FixedMontyForm::one(params);
    for (i, row) in table.iter().enumerate() {
        if i > 0 && i % G_ROWS_PER_PAUSE == 0 {
            pause();
        }
        // Window i (least significant first) is a nibble of byte 31 - i/2.
        let nibble = (be[31 - i / 2] >> (4 * (i % 2))) & 0xF;
        let mut pick = U3072::ZERO;
        for (j, entry) in (0u8..).zip(row) {
            pick.ct_assign(entry, Choice::from_u8_eq(nibble, j));
        }
        acc *= FixedMontyForm::from_montgomery(pick, params);
    }
    Some(BigUint::from_bytes_be(&acc.retrieve().to_be_bytes()))
}

/// Rows of [`G_TABLE`] [`pow_g_ct`] multiplies in between two calls of its `pause`: one
/// multiplication each, so 16 rows are about as much arithmetic as four windows of
/// [`pow_ct_paced`] (five multiplications each).
const G_ROWS_PER_PAUSE: usize = 16;

/// `padHex`: lower-case hex of `n`, a `0` prefixed when the length is odd,
/// then `00` prefixed when the first nibble is `8`–`f` (the encoding of Java's
/// `BigInteger.toByteArray`, which every Cognito client uses).
pub fn pad_hex(n: &BigUint) -> String {
    pad_hex_str(&n.to_str_radix(16))
}

/// [`pad_hex`] of a hex string (as pycognito applies it to the salt verbatim).
pub fn pad_hex_str(hex: &str) -> String {
    let hex = hex.to_ascii_lowercase();
    let hex = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    };
    match hex.as_bytes().first() {
        Some(b'8'..=b'9' | b'a'..=b'f') => format!("00{hex}"),
        _ => hex,
    }
}

fn decode_hex(hex: &str) -> Vec<u8> {
    hex::decode(hex).unwrap_or_default()
}

/// SHA-256 of the decoded bytes of the concatenated (even-length) hex strings, as a number.
fn hash_hex_concat(parts: &[&str]) -> BigUint {
    let mut h = Sha256::new();
    for p in parts {
        h.update(decode_hex(p));
    }
    BigUint::from_bytes_be(&h.finalize())
}

/// Parse a hex number as clients send it (any case, any length, no prefix).
/// `None` for empty, non-hex or absurdly long input.
pub fn parse_hex(s: &str) -> Option<BigUint> {
    if s.is_empty() || s.len() > 2048 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    BigUint::parse_bytes(s.as_bytes(), 16)
}

/// Lower-case hex without padding (how `SRP_B` and `SRP_A` travel).
pub fn to_hex(n: &BigUint) -> String {
    n.to_str_radix(16)
}

/// The part of a user-pool id after `_` (the "pool name" of the SRP formulas).
pub fn pool_name(user_pool_id: &str) -> &str {
    user_pool_id
        .split_once('_')
        .map(|(_, name)| name)
        .unwrap_or(user_pool_id)
}

/// A salt in canonical form: [`pad_hex`] of 16 random bytes read as a number.
pub fn new_salt(random: [u8; 16]) -> String {
    pad_hex(&BigUint::from_bytes_be(&random))
}

/// `x = H(padHex(salt) ‖ hex(H(poolName ‖ userIdForSrp ‖ ":" ‖ password)))`.
pub fn compute_x(
    pool_name: &str,
    user_id_for_srp: &str,
    password: &str,
    salt_hex: &str,
) -> BigUint {
    let inner = Sha256::digest(format!("{pool_name}{user_id_for_srp}:{password}").as_bytes());
    hash_hex_concat(&[&pad_hex_str(salt_hex), &hex::encode(inner)])
}

/// The verifier `v = g^x mod N`, stored (sealed) per user.
pub fn verifier(pool_name: &str, user_id_for_srp: &str, password: &str, salt_hex: &str) -> BigUint {
    let x = compute_x(pool_name, user_id_for_srp, password, salt_hex);
    GROUP.g.modpow(&x, &GROUP.n)
}

/// `u = H(padHex(A) ‖ padHex(B))`.
pub fn compute_u(a_pub: &BigUint, b_pub: &BigUint) -> BigUint {
    hash_hex_concat(&[&pad_hex(a_pub), &pad_hex(b_pub)])
}

/// The server's public value `B = (k·v + g^b) mod N` (`g^b` in constant time, from the
/// fixed-base table).
pub fn server_public(v: &BigUint, b: &BigUint) -> BigUint {
    server_public_paced(v, b, &mut || {})
}

/// [`server_public`], calling `pause` at fixed points of `g^b` (see [`server_key_paced`]).
pub fn server_public_paced(v: &BigUint, b: &BigUint, pause: &mut dyn FnMut()) -> BigUint {
    let grp = &*GROUP;
    let g_b = pow_g_ct(b, pause).unwrap_or_else(|| grp.g.modpow(b, &grp.n));
    (&grp.k * v + g_b) % &grp.n
}

/// Why a client's SRP values were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrpError {
    /// `A mod N == 0` (or `A` unparseable).
    #[error("SRP_A is invalid")]
    BadA,
    /// `u == 0`.
    #[error("u is zero")]
    ZeroU,
}

/// Reject `A` with `A mod N == 0` (the check that stops the zero-key attack).
pub fn check_a(a_pub: &BigUint) -> Result<(), SrpError> {
    if (a_pub % &GROUP.n) == BigUint::default() {
        return Err(SrpError::BadA);
    }
    Ok(())
}

/// The server's session key: `S = (A · v^u)^b mod N`, `K = HKDF(u, S)`.
pub fn server_key(
    a_pub: &BigUint,
    b_pub: &BigUint,
    b: &BigUint,
    v: &BigUint,
) -> Result<[u8; 16], SrpError> {
    server_key_paced(a_pub, b_pub, b, v, &mut || {})
}

/// [`server_key`], calling `pause` every [`WINDOWS_PER_PAUSE`] windows of its two
/// exponentiations (at fixed points, whatever the exponents). The server passes a short
/// sleep: see `passwords::pause`.
pub fn server_key_paced(
    a_pub: &BigUint,
    b_pub: &BigUint,
    b: &BigUint,
    v: &BigUint,
    pause: &mut dyn FnMut(),
) -> Result<[u8; 16], SrpError> {
    check_a(a_pub)?;
    let n = &GROUP.n;
    let u = compute_u(a_pub, b_pub);
    if u == BigUint::default() {
        return Err(SrpError::ZeroU);
    }
    let s = premaster_ct(a_pub, v, &u, b, pause)
        .unwrap_or_else(|| ((a_pub % n) * v.modpow(&u, n) % n).modpow(b, n));
    Ok(hkdf(&u, &s))
}

/// `S = (A · v^u)^b mod N` in Montgomery form, constant-time in `v` and `b`.
fn premaster_ct(
    a_pub: &BigUint,
    v: &BigUint,
    u: &BigUint,
    b: &BigUint,
    pause: &mut dyn FnMut(),
) -> Option<BigUint> {
    let params = MONTY.as_ref()?;
    let v_u = pow_ct_paced(monty(v, params)?, &fixed_be::<32>(u)?, params, pause);
    let base = monty(a_pub, params)? * v_u;
    let s = pow_ct_paced(base, &fixed_be::<32>(b)?, params, pause);
    Some(BigUint::from_bytes_be(&s.retrieve().to_be_bytes()))
}

/// Four-bit windows [`pow_ct_paced`] computes between two calls of its `pause`: about
/// 0.09 ms of arithmetic on a 2-core development machine, where criterion's
/// `srp_server_key` (128 windows) takes 2.7 ms. Every 8 windows did worse for uploads' p99
/// in `bench/run.sh --userpool` (see `passwords::pause`).
pub const WINDOWS_PER_PAUSE: usize = 4;

/// `base^exp mod N` for a 256-bit exponent given big-endian, by fixed four-bit windows from
/// the top, calling `pause` after every [`WINDOWS_PER_PAUSE`] windows. Constant time as
/// [`pow_g_ct`]: four squarings and one multiplication per window, whatever its value, and
/// every window reads all 16 entries of the table and keeps one by a constant-time
/// assignment; the pauses fall at the same windows for every exponent.
fn pow_ct_paced(
    base: FixedMontyForm<{ U3072::LIMBS }>,
    exp: &[u8; 32],
    params: &FixedMontyParams<{ U3072::LIMBS }>,
    pause: &mut dyn FnMut(),
) -> FixedMontyForm<{ U3072::LIMBS }> {
    let one = FixedMontyForm::one(params);
    // table[j] = base^j, in Montgomery form.
    let mut table = [U3072::ZERO; 16];
    let mut power = one;
    for entry in &mut table {
        *entry = *power.as_montgomery();
        power *= base;
    }
    let mut acc = one;
    let nibbles = exp.iter().flat_map(|byte| [byte >> 4, byte & 0xF]);
    for (window, nibble) in nibbles.enumerate() {
        if window > 0 && window % WINDOWS_PER_PAUSE == 0 {
            pause();
        }
        for _ in 0..4 {
            acc = acc.square();
        }
        let mut pick = U3072::ZERO;
        for (j, entry) in (0u8..).zip(&table) {
            pick.ct_assign(entry, Choice::from_u8_eq(nibble, j));
        }
        acc *= FixedMontyForm::from_montgomery(pick, params);
    }
    acc
}

/// The client's session key (what Amplify / pycognito compute):
/// `S = (B − k·g^x)^(a + u·x) mod N`, `K = HKDF(u, S)`. Used by tests and tools.
pub fn client_key(
    pool_name: &str,
    user_id_for_srp: &str,
    password: &str,
    salt_hex: &str,
    a: &BigUint,
    b_pub: &BigUint,
) -> Result<[u8; 16], SrpError> {
    let grp = &*GROUP;
    let n = &grp.n;
    let a_pub = grp.g.modpow(a, n);
    let u = compute_u(&a_pub, b_pub);
    if u == BigUint::default() {
        return Err(SrpError::ZeroU);
    }
    let x = compute_x(pool_name, user_id_for_srp, password, salt_hex);
    let kgx = (&grp.k * grp.g.modpow(&x, n)) % n;
    // (B - k g^x) mod N without going negative.
    let base = ((b_pub % n) + n - kgx) % n;
    let s = base.modpow(&(a + &u * &x), n);
    Ok(hkdf(&u, &s))
}

/// `HKDF-SHA256(salt = padHex(u), IKM = padHex(S), info = "Caldera Derived Key", L = 16)`.
pub fn hkdf(u: &BigUint, s: &BigUint) -> [u8; 16] {
    let prk = hmac_sha256(&decode_hex(&pad_hex(u)), &decode_hex(&pad_hex(s)));
    let okm = hmac_sha256(&prk, b"Caldera Derived Key\x01");
    let mut k = [0u8; 16];
    k.copy_from_slice(okm.get(..16).unwrap_or(&[0u8; 16]));
    k
}

/// HMAC-SHA256. HMAC takes keys of any length, so construction cannot fail.
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

/// `PASSWORD_CLAIM_SIGNATURE` bytes:
/// `HMAC-SHA256(K, poolName ‖ userIdForSrp ‖ base64decode(SECRET_BLOCK) ‖ TIMESTAMP)`.
pub fn claim_signature(
    key: &[u8; 16],
    pool_name: &str,
    user_id_for_srp: &str,
    secret_block: &[u8],
    timestamp: &str,
) -> [u8; 32] {
    let mut msg =
        Vec::with_capacity(pool_name.len() + user_id_for_srp.len() + secret_block.len() + 40);
    msg.extend_from_slice(pool_name.as_bytes());
    msg.extend_from_slice(user_id_for_srp.as_bytes());
    msg.extend_from_slice(secret_block);
    msg.extend_from_slice(timestamp.as_bytes());
    hmac_sha256(key, &msg)
}

/// Constant-time comparison of a computed signature with the one a client sent.
pub fn signature_matches(expected: &[u8; 32], provided: &[u8]) -> bool {
    expected.as_slice().ct_eq(provided).into()
}

/// A fresh server secret `b` (256 random bits) and the matching `B`, retried
/// in the (negligible) case `B == 0`.
pub fn server_ephemeral(v: &BigUint, random: impl FnMut() -> [u8; 32]) -> (BigUint, BigUint) {
    server_ephemeral_paced(v, random, &mut || {})
}

/// [`server_ephemeral`], calling `pause` at fixed points of `g^b` (see [`server_key_paced`]).
pub fn server_ephemeral_paced(
    v: &BigUint,
    mut random: impl FnMut() -> [u8; 32],
    pause: &mut dyn FnMut(),
) -> (BigUint, BigUint) {
    loop {
        let b = BigUint::from_bytes_be(&random());
        let b_pub = server_public_paced(v, &b, pause);
        if b_pub != BigUint::default() && b != BigUint::default() {
            return (b, b_pub);
        }
    }
}

/// `TIMESTAMP` as clients format it: `EEE MMM d HH:mm:ss UTC yyyy`, English
/// names, day not zero-padded (`Tue Feb 3 04:05:06 UTC 2026`).
pub fn format_timestamp(epoch: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let wd = match t.weekday() {
        time::Weekday::Monday => "Mon",
        time::Weekday::Tuesday => "Tue",
        time::Weekday::Wednesday => "Wed",
        time::Weekday::Thursday => "Thu",
        time::Weekday::Friday => "Fri",
        time::Weekday::Saturday => "Sat",
        time::Weekday::Sunday => "Sun",
    };
    let mon = match t.month() {
        time::Month::January => "Jan",
        time::Month::February => "Feb",
        time::Month::March => "Mar",
        time::Month::April => "Apr",
        time::Month::May => "May",
        time::Month::June => "Jun",
        time::Month::July => "Jul",
        time::Month::August => "Aug",
        time::Month::September => "Sep",
        time::Month::October => "Oct",
        time::Month::November => "Nov",
        time::Month::December => "Dec",
    };
    format!(
        "{wd} {mon} {} {:02}:{:02}:{:02} UTC {}",
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! The server side against a client written here from the Amplify / pycognito formulas,
    //! with its own padHex, hashing and HKDF (nothing shared with the code under test).
    use super::*;
    use num_bigint_dig::BigUint;

    #[test]
    fn constant_time_exponentiation_agrees_with_the_reference() {
        let n = &GROUP.n;
        for seed in 0u8..8 {
            let base = BigUint::from_bytes_be(&[seed.wrapping_mul(37).wrapping_add(3); 300]);
            let exp = BigUint::from_bytes_be(&[seed.wrapping_mul(91).wrapping_add(1); 32]);
            let (v, u, b) = (&base, BigUint::from(seed as u32 + 2), &exp);
            let a_pub = GROUP.g.modpow(&BigUint::from(1000u32 + seed as u32), n) + n;
            let reference = ((&a_pub % n) * v.modpow(&u, n) % n).modpow(b, n);
            assert_eq!(premaster_ct(&a_pub, v, &u, b, &mut || {}), Some(reference));
        }
    }

    #[test]
    fn fixed_base_table_agrees_with_the_reference() {
        let n = &GROUP.n;
        let max = (BigUint::from(1u32) << 256) - BigUint::from(1u32);
        let mut exps = vec![
            BigUint::default(),
            BigUint::from(1u32),
            BigUint::from(15u32),
            BigUint::from(16u32),
            max.clone(),
        ];
        for seed in 0u8..6 {
            exps.push(BigUint::from_bytes_be(
                &[seed.wrapping_mul(53).wrapping_add(7); 32],
            ));
            exps.push(BigUint::from_bytes_be(&rand::random::<[u8; 32]>()));
        }
        for e in &exps {
            assert_eq!(
                pow_g_ct(e, &mut || {}),
                Some(GROUP.g.modpow(e, n)),
                "exponent {e:x}"
            );
        }
        assert_eq!(pow_g_ct(&(max + BigUint::from(1u32)), &mut || {}), None);
    }

    fn c_pad_hex(n: &BigUint) -> String {
        let mut h = format!("{:x}", n);
        if h.len() % 2 == 1 {
            h.insert(0, '0');
        } else if "89abcdef".contains(&h[..1]) {
            h.insert_str(0, "00");
        }
        h
    }

    fn c_hex_hash(hex_str: &str) -> String {
        hex::encode(Sha256::digest(hex::decode(hex_str).unwrap()))
    }

    fn c_hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        m.update(msg);
        m.finalize().into_bytes().to_vec()
    }

    /// pycognito's `AWSSRP` client, transliterated.
    struct Client {
        n: BigUint,
        g: BigUint,
        k: BigUint,
        a: BigUint,
        big_a: BigUint,
    }

    impl Client {
        fn new(a_bytes: &[u8]) -> Self {
            let n = BigUint::parse_bytes(N_HEX.as_bytes(), 16).unwrap();
            let g = BigUint::from(2u32);
            let k = BigUint::parse_bytes(
                c_hex_hash(&format!("00{}0{}", N_HEX.to_lowercase(), "2")).as_bytes(),
                16,
            )
            .unwrap();
            let a = BigUint::from_bytes_be(a_bytes) % &n;
            let big_a = g.modpow(&a, &n);
            Client { n, g, k, a, big_a }
        }

        fn key(&self, pool_id: &str, user: &str, pw: &str, b_hex: &str, salt: &str) -> Vec<u8> {
            let b = BigUint::parse_bytes(b_hex.as_bytes(), 16).unwrap();
            let u = BigUint::parse_bytes(
                c_hex_hash(&(c_pad_hex(&self.big_a) + &c_pad_hex(&b))).as_bytes(),
                16,
            )
            .unwrap();
            assert_ne!(u, BigUint::from(0u32));
            let pool_name = pool_id.split('_').nth(1).unwrap();
            let up_hash = hex::encode(Sha256::digest(format!("{pool_name}{user}:{pw}").as_bytes()));
            // pycognito pads the SALT string verbatim.
            let mut salt_h = salt.to_string();
            if salt_h.len() % 2 == 1 {
                salt_h.insert(0, '0');
            } else if "89abcdefABCDEF".contains(&salt_h[..1]) {
                salt_h.insert_str(0, "00");
            }
            let x = BigUint::parse_bytes(c_hex_hash(&(salt_h + &up_hash)).as_bytes(), 16).unwrap();
            let gx = self.g.modpow(&x, &self.n);
            let kgx = (&self.k * gx) % &self.n;
            let base = ((&b + &self.n) - kgx) % &self.n;
            let s = base.modpow(&(&self.a + &u * &x), &self.n);
            let prk = c_hmac(
                &hex::decode(c_pad_hex(&u)).unwrap(),
                &hex::decode(c_pad_hex(&s)).unwrap(),
            );
            let mut info = b"Caldera Derived Key".to_vec();
            info.push(1);
            c_hmac(&prk, &info)[..16].to_vec()
        }
    }

    #[test]
    fn pad_hex_matches_java_encoding() {
        assert_eq!(pad_hex(&BigUint::from(0x7fu32)), "7f");
        assert_eq!(pad_hex(&BigUint::from(0x80u32)), "0080");
        assert_eq!(pad_hex(&BigUint::from(0xfffu32)), "0fff");
        assert_eq!(pad_hex(&BigUint::from(0x1u32)), "01");
        assert_eq!(pad_hex(&BigUint::from(0u32)), "00");
        assert_eq!(pad_hex_str("ABC"), "0abc");
        assert!(pad_hex(&GROUP.n).starts_with("00ffffffffffffffffc90f"));
    }

    #[test]
    fn k_is_hash_of_padded_n_and_g() {
        let expect = Sha256::digest(hex::decode(format!("00{}02", N_HEX)).unwrap());
        assert_eq!(GROUP.k, BigUint::from_bytes_be(&expect));
    }

    #[test]
    fn salt_is_canonical() {
        for _ in 0..200 {
            let s = new_salt(rand::random());
            assert_eq!(s.len() % 2, 0);
            let n = BigUint::parse_bytes(s.as_bytes(), 16).unwrap();
            assert_eq!(
                s,
                pad_hex(&n),
                "re-padding the parsed salt must not change it"
            );
        }
        // High bit set: a leading 00; small values: no redundant zero bytes.
        let mut hi = [0u8; 16];
        hi[0] = 0x80;
        assert!(new_salt(hi).starts_with("0080"));
        let mut lo = [0u8; 16];
        lo[15] = 5;
        assert_eq!(new_salt(lo), "05");
    }

    #[test]
    fn paced_key_pauses_at_fixed_windows_and_agrees() {
        let v = verifier("AbCdEf123", "alice", "Passw0rd!", &new_salt([7; 16]));
        for seed in [1u8, 0xff] {
            let client = Client::new(&[seed; 32]);
            let (b, b_pub) = server_ephemeral(&v, || [seed; 32]);
            let mut pauses = 0;
            let paced = server_key_paced(&client.big_a, &b_pub, &b, &v, &mut || pauses += 1);
            assert_eq!(paced, server_key(&client.big_a, &b_pub, &b, &v));
            // Two exponentiations of 64 windows, a pause between each group of
            // WINDOWS_PER_PAUSE.
            assert_eq!(pauses, 2 * (64 / WINDOWS_PER_PAUSE - 1));
        }
    }

    #[test]
    fn paced_ephemeral_pauses_at_fixed_rows_and_agrees() {
        let v = verifier("AbCdEf123", "alice", "Passw0rd!", &new_salt([7; 16]));
        for seed in [1u8, 0xff] {
            let mut pauses = 0;
            let paced = server_ephemeral_paced(&v, || [seed; 32], &mut || pauses += 1);
            assert_eq!(paced, server_ephemeral(&v, || [seed; 32]));
            // 64 rows of the fixed-base table, a pause between each group of 16.
            assert_eq!(pauses, 64 / G_ROWS_PER_PAUSE - 1);
        }
    }

    #[test]
    fn server_and_independent_client_agree() {
        let pool = "us-east-1_AbCdEf123";
        for (user, pw) in [
            ("alice", "Passw0rd!"),
            ("4b1e6c8a-uuid-like", "ünïcødé Pässwörd 1!"),
        ] {
            let salt = new_salt(rand::random());
            let v = verifier(pool_name(pool), user, pw, &salt);
            let client = Client::new(&rand::random::<[u8; 32]>());
            let (b, b_pub) = server_ephemeral(&v, rand::random);
            let server = server_key(&client.big_a, &b_pub, &b, &v).unwrap();
            let ck = client.key(pool, user, pw, &to_hex(&b_pub), &salt);
            assert_eq!(ck, server.to_vec());
            // The crate's own client helper agrees too.
            let own = client_key(pool_name(pool), user, pw, &salt, &client.a, &b_pub).unwrap();
            assert_eq!(own, server);
            // Signature over the challenge, as clients compute it.
            let block = b"opaque secret block";
            let ts = format_timestamp(1_770_087_906);
            let mut msg = pool_name(pool).as_bytes().to_vec();
            msg.extend_from_slice(user.as_bytes());
            msg.extend_from_slice(block);
            msg.extend_from_slice(ts.as_bytes());
            let client_sig = c_hmac(&ck, &msg);
            let server_sig = claim_signature(&server, pool_name(pool), user, block, &ts);
            assert!(signature_matches(&server_sig, &client_sig));
            // A wrong password gives a different key.
            let wrong = client.key(pool, user, "Passw0rd?", &to_hex(&b_pub), &salt);
            assert_ne!(wrong, server.to_vec());
        }
    }

    #[test]
    fn rejects_a_multiple_of_n() {
        let v = verifier("X", "u", "p", "01");
        let (b, b_pub) = server_ephemeral(&v, rand::random);
        assert_eq!(check_a(&BigUint::from(0u32)), Err(SrpError::BadA));
        assert_eq!(check_a(&GROUP.n), Err(SrpError::BadA));
        assert_eq!(
            server_key(&(&GROUP.n * BigUint::from(3u32)), &b_pub, &b, &v),
            Err(SrpError::BadA)
        );
    }

    #[test]
    fn timestamp_format() {
        // 2026-02-03T04:05:06Z is a Tuesday.
        assert_eq!(
            format_timestamp(1_770_091_506),
            "Tue Feb 3 04:05:06 UTC 2026"
        );
        assert_eq!(format_timestamp(0), "Thu Jan 1 00:00:00 UTC 1970");
        assert_eq!(
            format_timestamp(1_766_707_199),
            "Thu Dec 25 23:59:59 UTC 2025"
        );
    }

    #[test]
    fn parse_hex_bounds() {
        assert!(parse_hex("").is_none());
        assert!(parse_hex("xyz").is_none());
        assert!(parse_hex(&"f".repeat(4096)).is_none());
        assert_eq!(parse_hex("FF"), Some(BigUint::from(255u32)));
    }

    #[test]
    fn pool_name_is_after_underscore() {
        assert_eq!(pool_name("us-east-1_AbC"), "AbC");
    }
}
