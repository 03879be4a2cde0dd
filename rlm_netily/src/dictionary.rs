//! netily-core's table of the reply attributes override rows may set
//! (`netily_core::dictionary`), held against this server's own dictionary
//! once, at instantiate.
//!
//! Why: `netadmin check` has no FreeRADIUS and knows only the table; radiusd
//! must never be handed a row its dictionary cannot set (that failed the
//! login). Each entry's name, vendor, number, type and value names are looked
//! up here; an entry that differs is logged and left out of the snapshot's
//! dictionary, so its rows are skipped (and said so) like any bad row. With
//! FreeRADIUS 3.2's stock dictionaries nothing differs, and `check` agrees
//! with radiusd exactly.

use std::ffi::CString;

use netily_core::dictionary::{AttrType, Attribute, Dictionary, REPLY_ATTRIBUTES};

use crate::request::dictionary_entry;
use crate::sys;

/// The table as far as this server's dictionary confirms it; each entry
/// that differs is logged (once per start: the table is small and fixed).
pub fn confirmed() -> Dictionary {
    let mut differ = Vec::new();
    for a in REPLY_ATTRIBUTES {
        if let Some(why) = difference(a) {
            log::warn!(
                "reply attribute {}: {why}; override rows setting it are skipped \
                 (netadmin check does not know this server's dictionary)",
                a.name
            );
            differ.push(a.name);
        }
    }
    Dictionary::only(|a| !differ.contains(&a.name))
}

/// How FreeRADIUS's entry for `a` differs from the table, or None.
fn difference(a: &Attribute) -> Option<String> {
    let da = match dictionary_entry(a.name) {
        Ok(Some(da)) => da,
        Ok(None) => return Some("not in FreeRADIUS's dictionary".into()),
        Err(e) => return Some(e),
    };
    // SAFETY: dictionary entries live as long as the process; plain reads.
    let (number, vendor, kind) = unsafe {
        let da = da.as_ref();
        (da.attr, da.vendor, da.type_)
    };
    if (vendor, number) != (a.vendor, a.number) {
        return Some(format!(
            "FreeRADIUS has it as vendor {vendor} number {number}, Netily as vendor {} number {}",
            a.vendor, a.number
        ));
    }
    if kind != pw_type(a.kind) {
        return Some(format!(
            "FreeRADIUS's type is not {} as in Netily's table",
            a.kind.name()
        ));
    }
    for (name, value) in a.values {
        let same = CString::new(*name).ok().is_some_and(|c_name| {
            // SAFETY: a NUL-terminated name; dict_valbyname only reads the
            // dictionary and returns null or an entry living for the process.
            let dv = unsafe { sys::dict_valbyname(a.number, a.vendor, c_name.as_ptr()).as_ref() };
            dv.is_some_and(|dv| u32::try_from(dv.value) == Ok(*value))
        });
        if !same {
            return Some(format!(
                "FreeRADIUS's dictionary does not have value {name} = {value}"
            ));
        }
    }
    None
}

fn pw_type(kind: AttrType) -> sys::PW_TYPE {
    match kind {
        AttrType::String => sys::PW_TYPE_STRING,
        AttrType::Octets => sys::PW_TYPE_OCTETS,
        AttrType::Integer => sys::PW_TYPE_INTEGER,
        AttrType::Ipv4Addr => sys::PW_TYPE_IPV4_ADDR,
        AttrType::Ipv6Addr => sys::PW_TYPE_IPV6_ADDR,
        AttrType::Ipv6Prefix => sys::PW_TYPE_IPV6_PREFIX,
    }
}
