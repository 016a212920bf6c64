//! The stored body of an update (`passive_updates.body`): a versioned encoding that
//! round-trips to the canonical parsed form (spec §3).
//!
//! Layout: the 4 bytes `PU1\0` (magic and major version 1), then an LZ4 block (with its
//! uncompressed size prepended, little-endian u32) of the update's canonical JSON. JSON
//! keeps it readable by any language and equal to the conformance form; LZ4 keeps it
//! small and cheap to decode.

use crate::Update;

const MAGIC: &[u8; 4] = b"PU1\0";

/// A stored body that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Another magic or version.
    #[error("stored update body: unknown encoding (magic {0:?}); re-ingest the archive")]
    Magic(Vec<u8>),
    /// The LZ4 block is damaged.
    #[error("stored update body: {0}")]
    Lz4(String),
    /// The JSON does not describe an update.
    #[error("stored update body: {0}")]
    Json(String),
}

/// Encodes an update.
pub fn encode(u: &Update) -> Vec<u8> {
    // Serializing a struct of strings and integers to a Vec cannot fail.
    let json = serde_json::to_vec(u).unwrap_or_default();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&lz4_flex::block::compress_prepend_size(&json));
    out
}

/// Decodes a body written by [`encode`].
pub fn decode(body: &[u8]) -> Result<Update, CodecError> {
    let Some(rest) = body.strip_prefix(MAGIC.as_slice()) else {
        return Err(CodecError::Magic(body.iter().take(4).copied().collect()));
    };
    let json = lz4_flex::block::decompress_size_prepended(rest)
        .map_err(|e| CodecError::Lz4(e.to_string()))?;
    serde_json::from_slice(&json).map_err(|e| CodecError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let u = Update { node_id: "n".into(), session_id: 5, ..Update::default() };
        let b = encode(&u);
        assert_eq!(decode(&b).unwrap(), u);
        assert!(matches!(decode(b"XXXX"), Err(CodecError::Magic(_))));
        for n in 4..b.len() {
            assert!(decode(&b[..n]).is_err());
        }
    }
}
