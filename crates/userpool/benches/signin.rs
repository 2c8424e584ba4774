//! The server-side CPU of one SRP sign-in, part by part: the ephemeral `B` (InitiateAuth:
//! one constant-time 256-bit exponentiation mod the 3072-bit prime), the premaster secret
//! `S` (RespondToAuthChallenge: two), and one RS256 token signature (a sign-in makes two: ID
//! and access token). Wall time; run on an otherwise idle machine and read the medians from
//! `target/criterion/signin/*/new/estimates.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use cubby_userpool::srp;
use num_bigint_dig::BigUint;

fn bench(c: &mut Criterion) {
    let salt = srp::new_salt([7u8; 16]);
    let v = srp::verifier("abc", "user-1", "Passw0rd!", &salt);
    let mut g = c.benchmark_group("signin");
    g.bench_function("srp_server_ephemeral", |b| {
        b.iter(|| srp::server_ephemeral(black_box(&v), rand::random))
    });
    let (b_secret, b_pub) = srp::server_ephemeral(&v, rand::random);
    let a = BigUint::from_bytes_be(&[9u8; 32]);
    let a_pub = srp::GROUP.g.modpow(&a, &srp::GROUP.n);
    g.bench_function("srp_server_key", |b| {
        b.iter(|| srp::server_key(black_box(&a_pub), &b_pub, &b_secret, &v).unwrap())
    });
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    let rsa_key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let der = rsa_key.to_pkcs1_der().unwrap();
    let signer = cubby_userpool::TokenSigner::from_pkcs1_der("kid", der.as_bytes()).unwrap();
    let claims = serde_json::json!({
        "sub": "5f0e8c4a-1b2c-4d5e-8f90-123456789abc",
        "iss": "http://127.0.0.1:9000/us-east-1_abcdefghi",
        "cognito:username": "alice",
        "token_use": "id",
        "aud": "3n4b5urk1ft4fl3mg5e62d9ado",
        "exp": 1_900_000_000,
        "iat": 1_800_000_000
    });
    let claims = claims.as_object().unwrap();
    g.bench_function("rs256_sign_token", |b| {
        b.iter(|| signer.sign(black_box(claims)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
