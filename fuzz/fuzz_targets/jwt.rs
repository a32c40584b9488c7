//! Entra tokens as every plane validates them: arbitrary text is refused
//! without a panic, and a signed token with bytes changed either is refused or
//! (a change the signature does not cover, which must not exist) carries the
//! very claims that were signed.
#![no_main]
use azemu_emulator::entra::keys::SigningKey;
use azemu_emulator::entra::token::TokenService;
use azemu_emulator::entra::{PrincipalKind, ServicePrincipal};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use time::OffsetDateTime;

struct Fixture {
    service: TokenService,
    token: String,
    now: OffsetDateTime,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = SigningKey::generate().unwrap();
        let service = TokenService::new(SigningKey::from_private(&key).unwrap());
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let sp = ServicePrincipal {
            object_id: "00000000-0000-0000-0000-00000000000a".into(),
            app_id: "00000000-0000-0000-0000-00000000000b".into(),
            tenant_id: "00000000-0000-0000-0000-00000000000c".into(),
            display_name: "fuzz".into(),
            kind: PrincipalKind::Application,
            secrets: vec![],
            mi_resource_id: None,
            created_ms: None,
        };
        let token = service.sign(&service.claims_for(&sp, "https://management.azure.com/", now));
        Fixture { service, token, now }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        // Arbitrary text as a bearer token.
        if let Ok(text) = std::str::from_utf8(rest) {
            assert!(f.service.validate(text, f.now).is_err() || text == f.token);
        }
        return;
    }
    // The real token with bytes overwritten: pairs of (position, byte).
    let mut bytes = f.token.clone().into_bytes();
    for pair in rest.chunks_exact(3) {
        let at = u16::from_le_bytes([pair[0], pair[1]]) as usize % bytes.len();
        bytes[at] = pair[2];
    }
    let Ok(tampered) = String::from_utf8(bytes) else { return };
    if let Ok(claims) = f.service.validate(&tampered, f.now) {
        let original = f.service.validate(&f.token, f.now).unwrap();
        assert_eq!(
            serde_json::to_value(&claims).unwrap(),
            serde_json::to_value(&original).unwrap(),
            "a changed token validated with different claims: {tampered}"
        );
    }
});
