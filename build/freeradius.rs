//! FreeRADIUS 3.2 bindings. (STUB — being written by the FreeRADIUS helper.)
pub fn generate() {}
