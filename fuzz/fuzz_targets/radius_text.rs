//! A text attribute from a request (User-Name, Calling-Station-Id, ...),
//! as rlm_netily reads it and shows it in the server log. Usable text is the
//! value's bytes exactly; the log form is one line of visible characters
//! (no control, format or bidi character can reach a log or a terminal) that
//! decodes back to exactly the bytes sent, or to a prefix of them with the
//! full length said when it is cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rlm_netily::log::safe_value;
use rlm_netily::request::{checked_text, MAX_TEXT};

fuzz_target!(|data: &[u8]| {
    let Some((&max, bytes)) = data.split_first() else {
        return;
    };
    if let Ok(text) = checked_text(bytes) {
        assert_eq!(text.as_bytes(), bytes);
        assert!(bytes.len() <= MAX_TEXT && !bytes.contains(&0));
    }

    let max = usize::from(max);
    let shown = safe_value(bytes, max);
    for c in shown.chars() {
        assert!(
            matches!(c, ' '..='~') || (!c.is_ascii() && c.is_alphanumeric()),
            "{c:?} in {shown:?}"
        );
    }
    // One unit per character, or per byte that is not UTF-8.
    let units: usize = bytes
        .utf8_chunks()
        .map(|c| c.valid().chars().count() + c.invalid().len())
        .sum();
    if units <= max {
        assert_eq!(decode(&shown).as_deref(), Some(bytes), "{shown:?}");
    } else {
        let suffix = format!("...({} bytes)", bytes.len());
        let body = shown
            .strip_suffix(&suffix)
            .unwrap_or_else(|| panic!("{shown:?} is cut without saying so"));
        let decoded = decode(body).unwrap_or_else(|| panic!("{shown:?} does not decode"));
        assert!(bytes.starts_with(&decoded), "{shown:?}");
    }
});

/// The inverse of `safe_value`'s escaping: `\\`, `\xNN`, `\u{N}`.
fn decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next()? {
            '\\' => out.push(b'\\'),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).ok()?);
            }
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let hex: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let c = char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?;
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            _ => return None,
        }
    }
    Some(out)
}
