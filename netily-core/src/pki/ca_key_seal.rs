//! Sealing the CA private key for storage: AES-256-GCM under a 256-bit key that
//! lives only in the config file, so a database dump alone cannot issue router
//! certificates.
//!
//! Sealed form: `netily-sealed-v1:` + hex(nonce || ciphertext || tag). The
//! purpose string is authenticated too, so a sealed value cannot be replayed
//! into another field sealed with the same key.

use std::fmt;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use super::PkiError;

const PREFIX: &str = "netily-sealed-v1:";
const AAD: &[u8] = b"netily CA private key";

/// The sealing key from the config file (64 hex digits). `Debug` hides it.
pub struct CaKeySeal {
    key: LessSafeKey,
}

impl fmt::Debug for CaKeySeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CaKeySeal(<secret>)")
    }
}

impl CaKeySeal {
    /// `field` is the config key's name, used in the error message.
    pub fn from_hex(field: &'static str, hex: &str) -> Result<CaKeySeal, PkiError> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(PkiError::field(
                field,
                "64 hexadecimal digits (a 256-bit key, e.g. from `openssl rand -hex 32`)",
            ));
        }
        let bytes = decode_hex(hex).ok_or(PkiError::field(field, "64 hexadecimal digits"))?;
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| PkiError::field(field, "a 256-bit key"))?;
        Ok(CaKeySeal {
            key: LessSafeKey::new(unbound),
        })
    }

    /// A fresh random sealing key, as 64 hex digits, for `netadmin` to print
    /// into a new config file.
    pub fn generate_hex() -> Result<String, PkiError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| PkiError::Random)?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn seal(&self, key_pem: &str) -> Result<String, PkiError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| PkiError::Random)?;
        let mut in_out = key_pem.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut in_out,
            )
            .map_err(|_| PkiError::SealedKey("encryption failed"))?;
        let mut out = String::with_capacity(PREFIX.len() + 2 * (NONCE_LEN + in_out.len()));
        out.push_str(PREFIX);
        for b in nonce.iter().chain(in_out.iter()) {
            out.push_str(&format!("{b:02x}"));
        }
        Ok(out)
    }

    pub fn open(&self, sealed: &str) -> Result<String, PkiError> {
        let hex = sealed
            .strip_prefix(PREFIX)
            .ok_or(PkiError::SealedKey("not a netily-sealed-v1 value"))?;
        let bytes = decode_hex(hex).ok_or(PkiError::SealedKey("not hexadecimal"))?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(PkiError::SealedKey("too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| PkiError::SealedKey("bad nonce"))?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(AAD), &mut in_out)
            .map_err(|_| PkiError::SealedKey("wrong sealing key or corrupted value"))?;
        String::from_utf8(plain.to_vec()).map_err(|_| PkiError::SealedKey("not text"))
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn seal_and_open_round_trip_and_hide_the_text() {
        let seal = CaKeySeal::from_hex("ca_key_seal", KEY_A).unwrap();
        let secret = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
        let sealed = seal.seal(secret).unwrap();
        assert!(sealed.starts_with("netily-sealed-v1:"));
        assert!(!sealed.contains("PRIVATE"));
        assert_ne!(sealed, seal.seal(secret).unwrap(), "fresh nonce each time");
        assert_eq!(seal.open(&sealed).unwrap(), secret);
    }

    #[test]
    fn wrong_key_or_tampering_is_refused() {
        let seal = CaKeySeal::from_hex("ca_key_seal", KEY_A).unwrap();
        let other =
            CaKeySeal::from_hex("ca_key_seal", &CaKeySeal::generate_hex().unwrap()).unwrap();
        let sealed = seal.seal("secret").unwrap();
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        assert!(seal.open(&String::from_utf8(tampered).unwrap()).is_err());
        assert!(seal.open("secret").is_err());
    }

    #[test]
    fn bad_config_key_names_the_field_and_never_echoes_the_value() {
        let e = CaKeySeal::from_hex("ca_key_seal", "hunter2").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("invalid ca_key_seal: 64 hexadecimal digits"));
        assert!(!text.contains("hunter2"));
        assert_eq!(
            format!("{:?}", CaKeySeal::from_hex("k", KEY_A).unwrap()),
            "CaKeySeal(<secret>)"
        );
    }
}
