//! Writing certificate and key files: whole or not at all (a temporary file
//! renamed into place, so OpenVPN never reads half a CRL), and a key file is
//! 0600 from its first byte.

use std::fs::{self, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::Failure;

/// Mode of a private key file.
pub const SECRET: u32 = 0o600;
/// Mode of a certificate or CRL: OpenVPN may read it after dropping root.
pub const PUBLIC: u32 = 0o644;

pub fn write_atomic(path: &Path, text: &str, mode: u32) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure(format!("cannot write {}: {e}", path.display()));
    let name = path
        .file_name()
        .ok_or_else(|| Failure(format!("cannot write {}: not a file name", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.netadmin-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // Exactly `mode`, whatever the umask.
        f.set_permissions(Permissions::from_mode(mode))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(fail)
}

/// Creates `dir` (0755) if needed.
pub fn ensure_dir(dir: &Path) -> Result<(), Failure> {
    fs::create_dir_all(dir)
        .map_err(|e| Failure(format!("cannot create directory {}: {e}", dir.display())))
}
