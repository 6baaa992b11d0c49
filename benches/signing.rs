//! Signing and verifying cost, as ratios measured in one run:
//! `cargo bench --bench signing`.
//!
//! Compares tessera's RS256 signing (ring, key pair parsed once) with
//! jsonwebtoken's rust_crypto backend (which re-parses the key per token),
//! and shows EdDSA and verification for scale. No assertions: figures only.

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use tessera::keys::{Alg, KeyMaterial};

fn per_op(mut f: impl FnMut(), min: Duration) -> Duration {
    f();
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < min {
        f();
        n += 1;
    }
    start.elapsed() / n
}

fn main() {
    let min = Duration::from_millis(1500);
    let message = br#"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9"#;

    let rsa = KeyMaterial::generate(Alg::Rs256, 2048).unwrap();
    let ring_signer = rsa.signer().unwrap();
    let ring_rs256 = per_op(|| drop(black_box(ring_signer.sign(message).unwrap())), min);

    let pkcs1 = rsa::PrivateKey::from_pkcs8_der(rsa.pkcs8()).unwrap().to_pkcs1_der().unwrap();
    let jwt_key = EncodingKey::from_rsa_der(pkcs1.as_bytes());
    let claims = serde_json::json!({"sub": "bench"});
    let jwt_rs256 = per_op(
        || drop(black_box(jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &jwt_key).unwrap())),
        min,
    );

    let ed = KeyMaterial::generate(Alg::EdDsa, 2048).unwrap().signer().unwrap();
    let ring_eddsa = per_op(|| drop(black_box(ed.sign(message).unwrap())), min);

    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring_signer.sign(message).unwrap());
    let dk = ring_signer.public_jwk().decoding_key();
    let verify_rs256 =
        per_op(|| assert!(jsonwebtoken::crypto::verify(&sig, message, &dk, Algorithm::RS256).unwrap()), min);

    println!("operation                                   per op      ops/s");
    for (name, d) in [
        ("RS256 sign, ring (tessera)", ring_rs256),
        ("RS256 sign, jsonwebtoken rust_crypto", jwt_rs256),
        ("EdDSA sign, ring (tessera)", ring_eddsa),
        ("RS256 verify, jsonwebtoken rust_crypto", verify_rs256),
    ] {
        println!("{name:<42} {:>8.1} µs {:>9.0}", d.as_secs_f64() * 1e6, 1.0 / d.as_secs_f64());
    }
    println!(
        "ratio: ring signs RS256 {:.1}x faster than jsonwebtoken's backend; EdDSA is {:.1}x faster than RS256",
        jwt_rs256.as_secs_f64() / ring_rs256.as_secs_f64(),
        ring_rs256.as_secs_f64() / ring_eddsa.as_secs_f64()
    );
}
