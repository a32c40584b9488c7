//! OCI manifests and indexes as pushed: any bytes, content type and reference
//! either pass with the digest of exactly those bytes or get a 4xx OCI code.
#![no_main]
use azemu_emulator::oci::manifest::{MANIFEST_TYPES, read};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte picks the Content-Type (or none), the second the reference.
    let [ct, r, body @ ..] = data else { return };
    let content_type = MANIFEST_TYPES.get(*ct as usize % 6).copied();
    let digest = format!("sha256:{}", sha256_hex(body));
    let reference = match r % 3 {
        0 => "latest".to_string(),
        1 => digest.clone(),
        _ => String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned(),
    };
    match read(body, content_type, &reference) {
        Ok(m) => {
            assert_eq!(m.digest, digest);
            assert!(MANIFEST_TYPES.contains(&m.media_type.as_str()));
            assert_eq!(m.by_digest, reference.contains(':'));
        }
        Err(e) => assert!(e.status.is_client_error(), "{e:?}"),
    }
});

fn sha256_hex(b: &[u8]) -> String {
    azemu_emulator::oci::blobs::digest_of(b)["sha256:".len()..].to_string()
}
