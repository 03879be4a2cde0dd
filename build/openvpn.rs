//! OpenVPN 2.6 plugin bindings for openvpn_plugin_netily.
//!
//! bindgen over `openvpn-plugin.h` (from the `openvpn` package), restricted to
//! the plugin API: the header includes <openssl/x509.h> only for
//! `openvpn_x509_cert_t`, which stays an opaque type here. The cdylib links
//! with `-z nodelete` so a SIGHUP's close/reopen never unmaps code that a
//! `log` logger or a thread-local destructor still points into.
//!
//! Override: `NETILY_OPENVPN_INCLUDE` (dir holding `openvpn/`, default
//! `/usr/include`).

use std::path::PathBuf;

fn fail(msg: &str) -> ! {
    eprintln!("error: openvpn_plugin_netily build: {msg}");
    std::process::exit(1);
}

pub fn generate() {
    println!("cargo:rerun-if-env-changed=NETILY_OPENVPN_INCLUDE");
    let include = std::env::var_os("NETILY_OPENVPN_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    let header = include.join("openvpn/openvpn-plugin.h");
    if !header.exists() {
        fail(&format!(
            "{} not found; install the `openvpn` package (`make deps`)",
            header.display()
        ));
    }
    println!("cargo:rerun-if-changed={}", header.display());

    let bindings = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .clang_arg(format!("-I{}", include.display()))
        .allowlist_type("openvpn_plugin_.*")
        .allowlist_type("plugin_log_t")
        .allowlist_var("OPENVPN_PLUGIN_.*")
        .allowlist_var("OPENVPN_PLUGINv3_STRUCTVER")
        .opaque_type("openvpn_x509_cert_t")
        .opaque_type("X509")
        .opaque_type("x509_st")
        .blocklist_type("x509_st")
        .blocklist_type("X509")
        .raw_line("pub type X509 = ::core::ffi::c_void;")
        .prepend_enum_name(false)
        .layout_tests(true)
        .generate_comments(false)
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen over {}: {e}", header.display())));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_else(|| fail("OUT_DIR unset")))
        .join("openvpn_plugin.rs");
    bindings
        .write_to_file(&out)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", out.display())));

    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
