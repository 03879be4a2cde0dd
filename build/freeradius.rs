//! FreeRADIUS 3.2 bindings for rlm_netily.
//!
//! * Installed headers (`/usr/include/freeradius`, from libfreeradius-dev) win;
//!   the ones Debian leaves out (log.h, xlat.h, tmpl.h, ...) come from the
//!   matching Debian source, fetched once by `scripts/freeradius-headers.sh`
//!   into `target/freeradius-src/<version>` and added with `-idirafter`.
//! * `build.h` first, then `features.h`; `NDEBUG` is defined when the server was
//!   built with it (`WITH_NDEBUG`), otherwise REQUEST's layout silently shifts.
//! * `RLM_MODULE_INIT` (the loader's magic, a token-pasted macro bindgen cannot
//!   evaluate) is taken from the C preprocessor's expansion via `cc`.
//! * The build refuses headers whose version differs from the installed server.
//!
//! Overrides: `NETILY_FREERADIUS_INCLUDE` (dir holding `freeradius/`, default
//! `/usr/include`), `NETILY_FREERADIUS_SRC` (source cache dir),
//! `NETILY_FREERADIUS_BIN` (server binary, default `freeradius`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const DEPS_HINT: &str = "run `make deps` (installs freeradius + libfreeradius-dev and fetches the matching source headers)";

/// Headers radiusd.h includes that Debian's libfreeradius-dev 3.2.1 does not ship.
const MISSING_HEADERS: &[&str] = &[
    "automask.h",
    "log.h",
    "connection.h",
    "xlat.h",
    "tmpl.h",
    "clients.h",
    "process.h",
    "listen.h",
];

fn fail(msg: &str) -> ! {
    eprintln!("error: rlm_netily build: {msg}");
    std::process::exit(1);
}

fn env_path(name: &str) -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed={name}");
    std::env::var_os(name).map(PathBuf::from)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())))
}

/// The value of `#define NAME "x"` / `#define NAME x` in a header.
fn define(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        match (it.next(), it.next(), it.next()) {
            (Some("#define"), Some(n), Some(v)) if n == name => {
                Some(v.trim_matches('"').to_string())
            }
            _ => None,
        }
    })
}

/// "FreeRADIUS Version 3.2.1, for host ..." -> "3.2.1"
fn server_version(bin: &Path) -> String {
    let out = Command::new(bin).arg("-v").output().unwrap_or_else(|e| {
        fail(&format!(
            "cannot run `{} -v` ({e}); FreeRADIUS is not installed: {DEPS_HINT}",
            bin.display()
        ))
    });
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "Version")
        .nth(1)
        .map(|v| v.trim_end_matches(',').to_string())
        .unwrap_or_else(|| {
            fail(&format!(
                "cannot read a version from `{} -v`: {text:?}",
                bin.display()
            ))
        })
}

/// Unpacked Debian source of the installed version (fetched once, then cached).
fn source_include(workspace: &Path) -> PathBuf {
    let script = workspace.join("scripts/freeradius-headers.sh");
    println!("cargo:rerun-if-changed={}", script.display());
    let mut cmd = Command::new("sh");
    cmd.arg(&script);
    if let Some(dir) = env_path("NETILY_FREERADIUS_SRC") {
        cmd.arg(dir);
    }
    let out = cmd.output().unwrap_or_else(|e| {
        fail(&format!(
            "cannot run {}: {e}; {DEPS_HINT}",
            script.display()
        ))
    });
    if !out.status.success() {
        fail(&format!(
            "{} failed:\n{}\nThe FreeRADIUS source headers are missing; {DEPS_HINT}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !dir.join("log.h").is_file() {
        fail(&format!("{} has no log.h; {DEPS_HINT}", dir.display()));
    }
    dir
}

/// An include dir where `freeradius/X.h` and `freeradius-devel/X.h` both resolve:
/// to the installed header when there is one, else to the source's.
fn overlay(out: &Path, installed: &Path, source: &Path) -> PathBuf {
    let root = out.join("fr-include");
    for sub in ["freeradius", "freeradius-devel"] {
        let dir = root.join(sub);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)
            .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", dir.display())));
        let entries = fs::read_dir(source)
            .unwrap_or_else(|e| fail(&format!("cannot list {}: {e}", source.display())));
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().ends_with(".h") {
                continue;
            }
            let target = match installed.join(&name) {
                p if p.is_file() => p,
                _ => entry.path(),
            };
            std::os::unix::fs::symlink(&target, dir.join(&name))
                .unwrap_or_else(|e| fail(&format!("cannot link {}: {e}", target.display())));
        }
    }
    root
}

/// RLM_MODULE_INIT as the C preprocessor expands it: `((uint64_t) (0xf...))`.
fn module_magic(out: &Path, clang_args: &[String]) -> u64 {
    let c = out.join("netily_magic.c");
    fs::write(
        &c,
        "#include \"wrapper.h\"\nNETILY_RLM_MODULE_INIT = RLM_MODULE_INIT ;\n",
    )
    .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", c.display())));
    let mut build = cc::Build::new();
    build.file(&c).include(out).cargo_metadata(false);
    for a in clang_args {
        build.flag(a);
    }
    let expanded = build
        .try_expand()
        .unwrap_or_else(|e| fail(&format!("preprocessing RLM_MODULE_INIT failed: {e}")));
    let expanded = String::from_utf8_lossy(&expanded);
    // The expansion may span lines; take everything up to the `;`.
    let start = expanded
        .find("NETILY_RLM_MODULE_INIT")
        .unwrap_or_else(|| fail("RLM_MODULE_INIT did not expand"));
    let line: String = expanded[start..]
        .split(';')
        .next()
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    // Exactly one hex literal inside casts and parentheses.
    let literals: Vec<&str> = line
        .split(|ch: char| !ch.is_ascii_alphanumeric())
        .filter(|t| t.starts_with("0x"))
        .collect();
    let body = line
        .trim_start_matches("NETILY_RLM_MODULE_INIT")
        .trim()
        .trim_start_matches('=')
        .trim();
    let only_casts = body
        .replace("uint64_t", "")
        .chars()
        .all(|ch| "() 0123456789abcdefxABCDEF".contains(ch));
    match literals.as_slice() {
        [hex] if only_casts => u64::from_str_radix(hex.trim_start_matches("0x"), 16)
            .unwrap_or_else(|e| fail(&format!("RLM_MODULE_INIT {hex}: {e}"))),
        _ => fail(&format!("unexpected RLM_MODULE_INIT expansion: {line}")),
    }
}

pub fn generate() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_else(|| fail("OUT_DIR unset")));
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| fail("CARGO_MANIFEST_DIR unset")),
    );
    let workspace = manifest.parent().unwrap_or(&manifest).to_path_buf();
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("build/freeradius.rs").display()
    );

    // 1. The installed headers.
    let include =
        env_path("NETILY_FREERADIUS_INCLUDE").unwrap_or_else(|| PathBuf::from("/usr/include"));
    let installed = include.join("freeradius");
    let features_h = installed.join("features.h");
    if !installed.join("radiusd.h").is_file() || !features_h.is_file() {
        fail(&format!(
            "FreeRADIUS headers not found in {}; {DEPS_HINT}",
            installed.display()
        ));
    }
    println!("cargo:rerun-if-changed={}", features_h.display());
    let features = read(&features_h);
    let header_version = define(&features, "RADIUSD_VERSION_STRING").unwrap_or_else(|| {
        fail(&format!(
            "{} has no RADIUSD_VERSION_STRING",
            features_h.display()
        ))
    });

    // 2. Only ever build against the server that is installed.
    let bin = env_path("NETILY_FREERADIUS_BIN").unwrap_or_else(|| PathBuf::from("freeradius"));
    let server = server_version(&bin);
    if server != header_version {
        fail(&format!(
            "headers in {} are FreeRADIUS {header_version} but the installed server `{}` is {server}; \
             a module only loads into the exact version it was built against. Install matching \
             freeradius and libfreeradius-dev packages ({DEPS_HINT})",
            installed.display(),
            bin.display()
        ));
    }

    // 3. The headers Debian leaves out, from the same version's source.
    let source = source_include(&workspace);
    let source_version = read(&source.join("../../VERSION")).trim().to_string();
    if source_version != header_version {
        fail(&format!(
            "source headers in {} are FreeRADIUS {source_version}, installed headers are {header_version}; \
             delete that directory and {DEPS_HINT}",
            source.display()
        ));
    }
    for h in MISSING_HEADERS {
        if !installed.join(h).is_file() && !source.join(h).is_file() {
            fail(&format!(
                "{h} is neither installed nor in {}; {DEPS_HINT}",
                source.display()
            ));
        }
    }
    let overlay = overlay(&out, &installed, &source);

    // 4. Compiler flags shared by bindgen and the magic probe.
    let mut clang_args = vec![
        format!("-I{}", include.display()),
        format!("-idirafter{}", overlay.display()),
    ];
    let ndebug = define(&features, "WITH_NDEBUG").is_some();
    if ndebug {
        clang_args.push("-DNDEBUG=1".into());
    }
    let wrapper = out.join("wrapper.h");
    fs::write(
        &wrapper,
        "/* Generated by build/freeradius.rs. */\n\
         #include <freeradius/build.h>\n\
         #include <freeradius/features.h>\n\
         #if defined(WITH_NDEBUG) && !defined(NDEBUG)\n\
         #error \"the server was built with NDEBUG; REQUEST's layout depends on it\"\n\
         #endif\n\
         #include <freeradius/radiusd.h>\n\
         #include <freeradius/modules.h>\n\
         #include <freeradius/conffile.h>\n",
    )
    .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", wrapper.display())));

    let magic = module_magic(&out, &clang_args);
    // The magic is 0xf, the six-digit version (030201), then the commit digits.
    let version_hex: String = header_version
        .split('.')
        .map(|p| {
            format!(
                "{:02}",
                p.parse::<u8>()
                    .unwrap_or_else(|_| fail(&format!("version {header_version}")))
            )
        })
        .collect();
    if !format!("{magic:x}").starts_with(&format!("f{version_hex}")) {
        fail(&format!(
            "RLM_MODULE_INIT {magic:#x} does not encode FreeRADIUS {header_version}"
        ));
    }

    // 5. bindgen over what the module touches (and what those types reach).
    let bindings = bindgen::Builder::default()
        .header(wrapper.to_string_lossy())
        .clang_args(&clang_args)
        .allowlist_type("PW_TYPE|PW_CODE|FR_TOKEN|module_t|CONF_PARSER|REQUEST|RADIUS_PACKET|VALUE_PAIR|DICT_ATTR|rlm_rcode_t|log_type_t|log_lvl_t|rlm_components_t")
        .allowlist_function(
            "radlog|radlog_request|fr_pair_make|fr_pair_find_by_num|fr_pair_delete_by_num|fr_pair_add|fr_pair_list_free|fr_strerror|rad_debug_lvl_get\
             |fr_pair_value_strcpy|client_afrom_query|client_add|client_free\
             |dict_attrbyname|dict_valbyname|fr_pair_afrom_da|fr_pair_value_bstrncpy|fr_pair_value_from_str|radlog_debug_enabled",
        )
        .allowlist_var("rad_debug_lvl|PW_USER_NAME|PW_NAS_IP_ADDRESS|PW_CALLING_STATION_ID|PW_CALLED_STATION_ID|PW_NAS_IDENTIFIER|PW_NAS_PORT_ID|PW_FRAMED_IP_ADDRESS|PW_NAS_PORT|PW_EVENT_TIMESTAMP|PW_ACCT_.*|PW_TYPE_STRING|PW_TYPE_INTEGER|PW_TYPE_BOOLEAN|PW_TYPE_FILE_INPUT|PW_TYPE_NOT_EMPTY|PW_TYPE_SECRET|RLM_TYPE_THREAD_SAFE|RLM_TYPE_HUP_SAFE|RADIUSD_VERSION_STRING")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .layout_tests(true)
        .generate_comments(false)
        .derive_default(true)
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen over the FreeRADIUS headers failed: {e}")));
    let bindings_rs = out.join("freeradius_bindings.rs");
    bindings
        .write_to_file(&bindings_rs)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", bindings_rs.display())));

    let consts = out.join("freeradius_consts.rs");
    fs::write(
        &consts,
        format!(
            "/// `RLM_MODULE_INIT` for FreeRADIUS {header_version} (from the preprocessor).\n\
             pub const RLM_MODULE_INIT: u64 = {magic:#x};\n\
             /// The FreeRADIUS version these bindings were generated from.\n\
             pub const FREERADIUS_VERSION: &str = \"{header_version}\";\n\
             /// Whether the server was built with NDEBUG (REQUEST has no magic field then).\n\
             pub const FREERADIUS_NDEBUG: bool = {ndebug};\n"
        ),
    )
    .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", consts.display())));

    // Keep the library mapped after dlclose (avoids spurious valgrind reports and
    // dangling TLS destructors at server shutdown).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
