//! Member bytes → update text: gunzip when the gzip magic is there, plain text otherwise.
//!
//! A gzip stream must decompress completely: a truncated stream's prefix is never parsed
//! as an update (it would look like an update missing its last sections, or worse, a
//! valid shorter one); the member is quarantined with reason `gzip` instead.

use std::io::Read;

/// The gzip stream of a member does not decompress.
#[derive(Debug, thiserror::Error)]
#[error("gzip: {0}")]
pub struct GzipError(pub String);

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether bytes start with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Decodes a member: gunzipped when gzip, as-is otherwise; invalid UTF-8 is replaced (it
/// can only occur in names and hashes, which then simply do not match).
pub fn decode_member(bytes: &[u8]) -> Result<String, GzipError> {
    let raw = if is_gzip(bytes) {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| GzipError(e.to_string()))?;
        out
    } else {
        bytes.to_vec()
    };
    Ok(match String::from_utf8(raw) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn plain_and_gzip_and_every_truncation() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello\nworld\n").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(decode_member(&gz).unwrap(), "hello\nworld\n");
        assert_eq!(decode_member(b"plain\n").unwrap(), "plain\n");
        for n in 2..gz.len() {
            assert!(decode_member(&gz[..n]).is_err(), "prefix of {n} bytes decoded");
        }
    }
}
