//! OpenVPN 2.6 plugin bindings. (STUB — being written by the OpenVPN helper.)
pub fn generate() {}
