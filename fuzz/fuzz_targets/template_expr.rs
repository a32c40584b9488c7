//! Template expressions: any string is a literal, an expression or a refusal
//! with a position; an expression prints and reads back to the same tree.
#![no_main]
use azemu_emulator::templates::expr::{TemplateString, parse, parse_template_string};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text) {
        Ok(e) => assert_eq!(parse(&e.to_string()).expect("a printed expression reads back"), e),
        Err(err) => assert!(err.position <= text.chars().count() + 1, "{err:?}"),
    }
    if let Ok(TemplateString::Expr(e)) = parse_template_string(text) {
        let wrapped = format!("[{e}]");
        assert_eq!(parse_template_string(&wrapped).unwrap(), TemplateString::Expr(e));
    }
    let _ = azemu_emulator::templates::position::locate(
        text,
        &azemu_emulator::templates::position::parse_path("resources[0].properties.x"),
    );
});
