//! The tls-crypt static key: 2048 random bits in OpenVPN's "Static key V1" file
//! format (16 lines of 32 hex digits), shared by the server and every router.
//! It hides the TLS handshake from anyone without the key, so scanners and
//! unknown clients cost the server no TLS work.

use ring::rand::{SecureRandom, SystemRandom};

use super::PkiError;

const KEY_BYTES: usize = 256;
const BYTES_PER_LINE: usize = 16;

pub fn generate_tls_crypt_key() -> Result<String, PkiError> {
    let mut key = [0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| PkiError::Random)?;
    Ok(format_static_key(&key))
}

fn format_static_key(key: &[u8; KEY_BYTES]) -> String {
    let mut out = String::with_capacity(700);
    out.push_str("#\n# 2048 bit OpenVPN static key\n#\n");
    out.push_str("-----BEGIN OpenVPN Static key V1-----\n");
    for line in key.chunks(BYTES_PER_LINE) {
        for b in line {
            out.push_str(&format!("{b:02x}"));
        }
        out.push('\n');
    }
    out.push_str("-----END OpenVPN Static key V1-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_has_openvpns_layout() {
        let k = generate_tls_crypt_key().unwrap();
        let lines: Vec<&str> = k.lines().collect();
        let begin = lines
            .iter()
            .position(|l| *l == "-----BEGIN OpenVPN Static key V1-----")
            .unwrap();
        assert_eq!(lines[begin + 17], "-----END OpenVPN Static key V1-----");
        let body = &lines[begin + 1..begin + 17];
        assert!(body
            .iter()
            .all(|l| l.len() == 32 && l.bytes().all(|c| c.is_ascii_hexdigit())));
        assert_ne!(k, generate_tls_crypt_key().unwrap());
    }
}
