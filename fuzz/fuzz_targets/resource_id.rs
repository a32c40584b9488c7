//! ResourceId: any text parses or is refused; what parses prints and reads back
//! to the same id, and `parse_prefix` agrees with it.
#![no_main]
use azemu_emulator::arm::id::ResourceId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(id) = text.parse::<ResourceId>() {
        let printed = id.to_string();
        let back: ResourceId = printed.parse().expect("a printed id reads back");
        assert_eq!(back, id);
        assert_eq!(back.to_string(), printed);
        let _ = (id.name(), id.resource_type(), id.parent(), id.key());
    }
    if let Some((id, rest)) = ResourceId::parse_prefix(text) {
        let again = ResourceId::parse_prefix(&id.to_string()).expect("the prefix reads back");
        assert_eq!(again.0, id);
        assert!(again.1.is_empty());
        let _ = rest;
    }
});
