//! Safe views of a FreeRADIUS REQUEST: read request attributes as owned Rust
//! values, replace reply/control attributes, log against the request.
//!
//! Nothing here knows what an attribute means to an ISP; it only moves values
//! between C pairs and Rust types.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::net::Ipv4Addr;
use std::ptr::{self, NonNull};

use crate::log::c_text;
use crate::sys;

/// Longest text value accepted from a request. RADIUS attributes carry at most
/// 253 bytes; FreeRADIUS may concatenate long ones, so allow a little more and
/// refuse anything beyond as malformed rather than allocate without bound.
pub const MAX_TEXT: usize = 1024;

/// Why a text attribute could not be read as a Rust string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadText {
    NotUtf8,
    ContainsNul,
    TooLong(usize),
    /// The attribute exists but is not a string/octets attribute.
    WrongType,
}

impl fmt::Display for BadText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadText::NotUtf8 => f.write_str("is not valid UTF-8"),
            BadText::ContainsNul => f.write_str("contains a NUL byte"),
            BadText::TooLong(n) => write!(f, "is {n} bytes long (at most {MAX_TEXT} allowed)"),
            BadText::WrongType => f.write_str("is not a text attribute"),
        }
    }
}

/// A text attribute as the NAS sent it: absent, usable, or malformed;
/// borrowed from the request's pair.
pub type Text<'a> = Option<Result<&'a str, BadText>>;

/// Why a reply/control attribute could not be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairError {
    pub attribute: String,
    pub message: String,
}

impl fmt::Display for PairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot set {}: {}", self.attribute, self.message)
    }
}

/// Which list a written attribute goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// What the NAS sent (attributes later modules read as the packet's).
    Request,
    /// What the NAS receives.
    Reply,
    /// Server-side settings for later modules (e.g. Cleartext-Password for pap).
    Control,
}

/// How a written attribute meets the instances already in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Delete every existing instance first (`:=`).
    Replace,
    /// Add after the existing ones (`+=`).
    Append,
}

/// A borrowed REQUEST, valid for the duration of one module call.
pub struct Request<'a> {
    raw: NonNull<sys::REQUEST>,
    _call: PhantomData<&'a mut sys::REQUEST>,
}

impl<'a> Request<'a> {
    /// # Safety
    /// `raw` must be the REQUEST FreeRADIUS passed to the current module call
    /// (or null), and must not be used elsewhere while the view lives.
    pub unsafe fn from_raw(raw: *mut sys::REQUEST) -> Option<Request<'a>> {
        NonNull::new(raw).map(|raw| Request {
            raw,
            _call: PhantomData,
        })
    }

    fn packet_vps(&self) -> *mut sys::VALUE_PAIR {
        // SAFETY: raw is a live REQUEST for this call (from_raw's contract); its
        // packet pointer is either null or a live RADIUS_PACKET.
        unsafe {
            let packet = (*self.raw.as_ptr()).packet;
            if packet.is_null() {
                ptr::null_mut()
            } else {
                (*packet).vps
            }
        }
    }

    /// The first request pair with this attribute number (vendor 0, any tag).
    fn find(&self, attr: u32) -> Option<&sys::VALUE_PAIR> {
        let vps = self.packet_vps();
        if vps.is_null() {
            return None;
        }
        // SAFETY: vps is the request's live pair list; fr_pair_find_by_num only
        // walks it. The returned pair lives as long as the request (borrowed
        // from self, and nothing frees request pairs during our call).
        unsafe { sys::fr_pair_find_by_num(vps, attr, 0, sys::TAG_ANY).as_ref() }
    }

    /// A string (or octets) attribute as checked text, borrowed from the
    /// pair (request pairs are not changed while &self is held).
    pub fn text(&self, attr: u32) -> Text<'_> {
        let vp = self.find(attr)?;
        Some(pair_text(vp))
    }

    /// The raw bytes of a string/octets attribute, unchecked: only for
    /// showing a malformed value (escaped) in the log.
    pub fn bytes(&self, attr: u32) -> Option<&[u8]> {
        let vp = self.find(attr)?;
        // SAFETY: as in `pair_text`: for string and octets the union holds a
        // pointer to vp_length bytes owned by the pair, which outlives &self.
        unsafe {
            match (*vp.da).type_ {
                sys::PW_TYPE_STRING | sys::PW_TYPE_OCTETS => {
                    let p = vp.data.octets;
                    if p.is_null() || vp.length == 0 {
                        Some(&[])
                    } else {
                        Some(std::slice::from_raw_parts(p, vp.length))
                    }
                }
                _ => None,
            }
        }
    }

    /// The server's request number, as `radiusd -X` and the auth log show it.
    pub fn number(&self) -> u32 {
        // SAFETY: request is live for this call; a plain integer read.
        unsafe { (*self.raw.as_ptr()).number }
    }

    /// The short name of the RADIUS client (NAS) that sent the request.
    pub fn client_name(&self) -> Option<&[u8]> {
        // SAFETY: request is live; client is null or the live RADCLIENT the
        // packet came from (clients outlive their requests), whose shortname
        // is null or a NUL-terminated string.
        unsafe {
            let client = (*self.raw.as_ptr()).client.as_ref()?;
            if client.shortname.is_null() {
                None
            } else {
                Some(CStr::from_ptr(client.shortname).to_bytes())
            }
        }
    }

    /// An integer attribute.
    pub fn integer(&self, attr: u32) -> Option<u32> {
        let vp = self.find(attr)?;
        // SAFETY: da is always set on a pair in a list; the union member read
        // matches the attribute's declared type.
        unsafe {
            match (*vp.da).type_ {
                sys::PW_TYPE_INTEGER | sys::PW_TYPE_DATE => Some(vp.data.integer),
                sys::PW_TYPE_SHORT => Some(u32::from(vp.data.ushort)),
                sys::PW_TYPE_BYTE => Some(u32::from(vp.data.byte)),
                _ => None,
            }
        }
    }

    /// An IPv4 address attribute.
    pub fn ipv4(&self, attr: u32) -> Option<Ipv4Addr> {
        let vp = self.find(attr)?;
        // SAFETY: as in `integer`; ipaddr is stored in network byte order.
        unsafe {
            if (*vp.da).type_ == sys::PW_TYPE_IPV4_ADDR {
                Some(Ipv4Addr::from(u32::from_be(vp.data.ipaddr.s_addr)))
            } else {
                None
            }
        }
    }

    /// An IPv6 address attribute.
    pub fn ipv6(&self, attr: u32) -> Option<std::net::Ipv6Addr> {
        let vp = self.find(attr)?;
        // SAFETY: as in `integer`; every view of in6_addr's union is the
        // same 16 bytes, in network order.
        unsafe {
            if (*vp.da).type_ == sys::PW_TYPE_IPV6_ADDR {
                Some(std::net::Ipv6Addr::from(
                    vp.data.ipv6addr.__in6_u.__u6_addr8,
                ))
            } else {
                None
            }
        }
    }

    /// The code of the reply packet so far (Access-Accept = 2, Access-Reject = 3).
    pub fn reply_code(&self) -> Option<u32> {
        // SAFETY: request is live; reply is null or a live RADIUS_PACKET.
        unsafe {
            let reply = (*self.raw.as_ptr()).reply;
            reply.as_ref().map(|r| r.code)
        }
    }

    /// Sets `name = value` in `list`, replacing every existing instance of the
    /// attribute (fr_pair_make on its own would append a duplicate).
    pub fn replace(&mut self, list: List, name: &str, value: &str) -> Result<(), PairError> {
        self.set(list, Mode::Replace, name, value)
    }

    /// Sets `name = value` in `list` with replace or append semantics.
    ///
    /// A string attribute gets `value` byte for byte: fr_pair_make would parse
    /// it as a double-quoted string (`\n`, octal escapes, a trailing `\`
    /// refused), so a password like `pass\` could never be set. Other types
    /// (integers, addresses, dates, octets) are parsed from their text.
    pub fn set(
        &mut self,
        list: List,
        mode: Mode,
        name: &str,
        value: &str,
    ) -> Result<(), PairError> {
        let err = |message: String| PairError {
            attribute: name.to_string(),
            message,
        };
        // The message never shows the value: it may be a password.
        if value.contains('\0') {
            return Err(err("value contains NUL".into()));
        }
        let request = self.raw.as_ptr();
        // SAFETY: request is live for this call. The talloc parents match what
        // FreeRADIUS's pair_make_reply/pair_make_config use (the reply packet,
        // the request). fr_pair_afrom_da and fr_pair_make with a null list and
        // value only allocate. A new pair is in no list until fr_pair_add links it in,
        // exactly once, so it is then owned by the list; one we give up on is
        // freed alone by fr_pair_list_free. `value` has no NUL (checked), and
        // bstrncpy copies exactly value.len() bytes.
        unsafe {
            let (ctx, head): (*mut std::ffi::c_void, *mut *mut sys::VALUE_PAIR) = match list {
                List::Reply => {
                    let reply = (*request).reply;
                    if reply.is_null() {
                        return Err(err("request has no reply packet".into()));
                    }
                    (reply.cast(), ptr::addr_of_mut!((*reply).vps))
                }
                List::Control => (request.cast(), ptr::addr_of_mut!((*request).config)),
                List::Request => {
                    let packet = (*request).packet;
                    if packet.is_null() {
                        return Err(err("request has no packet".into()));
                    }
                    (packet.cast(), ptr::addr_of_mut!((*packet).vps))
                }
            };
            let mut vp = match dictionary_attribute(name).map_err(err)? {
                Some(da) => sys::fr_pair_afrom_da(ctx, da.as_ptr()),
                // Not a plain dictionary name (`Attr-26.x.y`, a tagged
                // `Name:1`): fr_pair_make knows those forms, and with no
                // value it only allocates the pair.
                None => {
                    let c_name = CString::new(name)
                        .map_err(|_| err("attribute name contains NUL".into()))?;
                    sys::fr_pair_make(
                        ctx,
                        ptr::null_mut(),
                        c_name.as_ptr(),
                        ptr::null(),
                        sys::T_OP_SET,
                    )
                }
            };
            if vp.is_null() {
                return Err(err(last_error()));
            }
            (*vp).op = sys::T_OP_SET;
            if (*(*vp).da).type_ == sys::PW_TYPE_STRING {
                sys::fr_pair_value_bstrncpy(vp, value.as_ptr().cast(), value.len());
            } else {
                // Checked above: `value` has no NUL.
                let c_value = CString::new(value).map_err(|_| err("value contains NUL".into()))?;
                if sys::fr_pair_value_from_str(vp, c_value.as_ptr(), value.len()) < 0 {
                    sys::fr_pair_list_free(&mut vp);
                    return Err(err(last_error()));
                }
            }
            if mode == Mode::Replace {
                let da = (*vp).da;
                sys::fr_pair_delete_by_num(head, (*da).attr, (*da).vendor, sys::TAG_ANY);
            }
            sys::fr_pair_add(head, vp);
        }
        Ok(())
    }

    /// True when a line at `level` would show in this request's debug log,
    /// so callers build the text only then.
    pub fn debugging(&self, level: log::Level) -> bool {
        let (kind, lvl) = debug_level(level);
        // SAFETY: request is live; the call only reads log settings.
        unsafe { sys::radlog_debug_enabled(kind, lvl, self.raw.as_ptr()) }
    }

    /// Logs a line against this request (shown in `radiusd -X` with the
    /// request number). Debug text is only built by callers when wanted.
    pub fn log(&self, level: log::Level, text: &str) {
        if !self.debugging(level) {
            return;
        }
        let (kind, lvl) = debug_level(level);
        let line = c_text(text);
        // SAFETY: request is live; "%s" with one NUL-terminated argument.
        unsafe {
            sys::radlog_request(kind, lvl, self.raw.as_ptr(), c"%s".as_ptr(), line.as_ptr());
        }
    }
}

fn debug_level(level: log::Level) -> (sys::log_type_t, sys::log_lvl_t) {
    match level {
        log::Level::Error => (sys::L_DBG_ERR, sys::L_DBG_LVL_1),
        log::Level::Warn => (sys::L_DBG_WARN, sys::L_DBG_LVL_1),
        log::Level::Info => (sys::L_DBG, sys::L_DBG_LVL_1),
        log::Level::Debug | log::Level::Trace => (sys::L_DBG, sys::L_DBG_LVL_2),
    }
}

/// Most names a thread remembers (Netily sets about ten; overrides from
/// radreply may add a few): bounded whatever the database holds.
const REMEMBERED_NAMES: usize = 64;

thread_local! {
    /// Dictionary entries by exact name, so a login does not hash and
    /// compare attribute names in the dictionary for every pair it sets.
    /// Per thread: no lock on the request path. Entries live as long as
    /// the process (FreeRADIUS 3 never reloads its dictionaries).
    static DICTIONARY: RefCell<Vec<(Box<str>, NonNull<sys::DICT_ATTR>)>> =
        const { RefCell::new(Vec::new()) };
}

/// The dictionary entry named `name`, or None when the name is not a plain
/// dictionary name.
fn dictionary_attribute(name: &str) -> Result<Option<NonNull<sys::DICT_ATTR>>, String> {
    let remembered = DICTIONARY
        .try_with(|d| {
            d.borrow()
                .iter()
                .find(|(n, _)| &**n == name)
                .map(|(_, da)| *da)
        })
        .ok()
        .flatten();
    if remembered.is_some() {
        return Ok(remembered);
    }
    let found = dictionary_entry(name)?;
    if let Some(da) = found {
        let _ = DICTIONARY.try_with(|d| {
            let mut d = d.borrow_mut();
            if d.len() < REMEMBERED_NAMES {
                d.push((name.into(), da));
            }
        });
    }
    Ok(found)
}

/// FreeRADIUS's dictionary entry named `name` (any case), or None; the
/// entry lives as long as the process.
pub(crate) fn dictionary_entry(name: &str) -> Result<Option<NonNull<sys::DICT_ATTR>>, String> {
    let c_name = CString::new(name).map_err(|_| "attribute name contains NUL".to_owned())?;
    // SAFETY: a NUL-terminated name; dict_attrbyname only reads the
    // dictionary and returns null or an entry that lives for the process.
    Ok(NonNull::new(
        unsafe { sys::dict_attrbyname(c_name.as_ptr()) }.cast_mut(),
    ))
}

/// Text from a string/octets pair, checked for size, NULs and UTF-8.
fn pair_text(vp: &sys::VALUE_PAIR) -> Result<&str, BadText> {
    // SAFETY: da is set on every listed pair. For string and octets types the
    // union holds a pointer to vp_length bytes owned by the pair.
    let bytes: &[u8] = unsafe {
        match (*vp.da).type_ {
            sys::PW_TYPE_STRING | sys::PW_TYPE_OCTETS => {
                let p = vp.data.octets;
                if p.is_null() || vp.length == 0 {
                    &[]
                } else if vp.length > MAX_TEXT {
                    return Err(BadText::TooLong(vp.length));
                } else {
                    std::slice::from_raw_parts(p, vp.length)
                }
            }
            _ => return Err(BadText::WrongType),
        }
    };
    checked_text(bytes)
}

/// A value's bytes as text: at most [`MAX_TEXT`], no NUL, valid UTF-8.
pub fn checked_text(bytes: &[u8]) -> Result<&str, BadText> {
    if bytes.len() > MAX_TEXT {
        return Err(BadText::TooLong(bytes.len()));
    }
    if bytes.contains(&0) {
        return Err(BadText::ContainsNul);
    }
    std::str::from_utf8(bytes).map_err(|_| BadText::NotUtf8)
}

/// FreeRADIUS's thread-local error text for the last failed library call.
fn last_error() -> String {
    // SAFETY: fr_strerror returns a thread-local NUL-terminated buffer (never
    // null; empty when no error).
    unsafe {
        let p: *const c_char = sys::fr_strerror();
        if p.is_null() {
            String::from("unknown error")
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}
