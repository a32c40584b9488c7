//! Repository names and references, as the distribution spec defines them:
//! names `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`,
//! tags `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, and the digest form a manifest
//! route accepts, `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`.

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator: ".", "_", "__" or one or more "-", then an alphanumeric.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(component_ok)
}

pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A digest in the form the manifest route matches (any algorithm name, 32 or
/// more hex digits): what is then checked as a digest, rather than not routed.
fn digest_form(reference: &str) -> bool {
    let Some((algorithm, hex)) = reference.split_once(':') else {
        return false;
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    };
    hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && algorithm.split(['-', '_', '+', '.']).all(component_ok)
}

/// Is `reference` a tag or a digest in form: the manifest route's two shapes.
/// ACR routes nothing else (a live conformance run, distribution-spec v1.1,
/// June 2024: `GET …/manifests/.INVALID_MANIFEST_NAME` and
/// `…/manifests/sha256:totallywrong` got the router's `404 page not found`).
pub fn reference_form(reference: &str) -> bool {
    valid_tag(reference) || digest_form(reference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        for ok in [
            "hello-world",
            "team-a/app",
            "a/b/c",
            "a.b",
            "a__b",
            "a---b",
            "x1",
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "A", "a//b", "-a", "a-", "a..b", "a___b", "a/", "/a", "a b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_tag("v1.0_rc-2"));
        assert!(!valid_tag(".hidden"));
        assert!(!valid_tag(&"a".repeat(129)));
        for ok in [
            "v1",
            &format!("sha256:{}", "a".repeat(64)),
            &format!("sha384:{}", "0".repeat(96)),
            &format!("multihash+base58:{}", "F".repeat(32)),
        ] {
            assert!(reference_form(ok), "{ok}");
        }
        for bad in [
            ".INVALID_MANIFEST_NAME",
            "sha256:totallywrong",
            &format!("sha256:{}", "a".repeat(31)),
            &format!("1sha:{}", "a".repeat(64)),
            &format!("sha-:{}", "a".repeat(64)),
            "",
        ] {
            assert!(!reference_form(bad), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,80}") {
            let _ = valid_name(&s);
            let _ = valid_tag(&s);
            let _ = reference_form(&s);
        }
    }
}
