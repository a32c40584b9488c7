//! ACR token scopes (`repository:name:pull,push`) and ABAC conditions: any
//! text parses or is refused; a parsed scope keeps its parts.
#![no_main]
use azemu_emulator::acr::Scope;
use azemu_emulator::authz::condition;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(s) = Scope::parse(text) {
        assert!(text.starts_with(&s.kind));
        assert!(text.contains(&s.name));
        assert!(s.actions.iter().all(|a| !a.contains(',')));
    }
    let _ = condition::parse(text);
});
