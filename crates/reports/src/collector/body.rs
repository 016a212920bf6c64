//! Request bodies: content decoding within the size limit, minification, and the byte
//! span of the `content` member, so that a stored line is the bytes the probe sent
//! (minified), never a re-serialization (spec §2.2).

use std::io::Read;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Over the decoded size limit (413).
    TooLarge,
    /// A `Content-Encoding` other than identity, gzip or zstd (415).
    UnknownEncoding(String),
    /// Not decodable with its encoding (400).
    BadEncoding(String),
}

/// Decodes `body` per `Content-Encoding`, stopping at `limit` decoded bytes.
pub fn decode(body: &[u8], encoding: Option<&str>, limit: usize) -> Result<Vec<u8>, BodyError> {
    let enc = encoding.map(|e| e.trim().to_ascii_lowercase()).unwrap_or_default();
    let mut out = Vec::new();
    let cap = limit as u64 + 1;
    let r = match enc.as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(BodyError::TooLarge);
            }
            return Ok(body.to_vec());
        }
        "gzip" | "x-gzip" => {
            flate2::read::MultiGzDecoder::new(body).take(cap).read_to_end(&mut out)
        }
        "zstd" => match ruzstd::decoding::StreamingDecoder::new(body) {
            Ok(d) => d.take(cap).read_to_end(&mut out),
            Err(e) => return Err(BodyError::BadEncoding(e.to_string())),
        },
        other => return Err(BodyError::UnknownEncoding(other.to_string())),
    };
    r.map_err(|e| BodyError::BadEncoding(e.to_string()))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(out)
}

/// Removes whitespace outside strings; everything else stays as sent.
pub fn minify(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let (mut in_str, mut esc) = (false, false);
    for &b in bytes {
        if in_str {
            out.push(b);
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if b == b'"' {
                in_str = true;
            }
            out.push(b);
        }
    }
    out
}

/// End (exclusive) of the JSON value starting at `i` of minified, already-validated text.
fn value_end(b: &[u8], mut i: usize) -> usize {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    while i < b.len() {
        let c = b[i];
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
                if depth == 0 {
                    return i + 1;
                }
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    if depth == 0 {
                        return i;
                    }
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                b',' if depth == 0 => return i,
                _ => {}
            }
        }
        i += 1;
    }
    b.len()
}

/// The byte span of the top-level member `key` in minified, validated JSON object text.
pub fn member_span(b: &[u8], key: &str) -> Option<(usize, usize)> {
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut i = 1;
    while i < b.len() && b[i] == b'"' {
        let kend = value_end(b, i);
        let k = b.get(i + 1..kend.checked_sub(1)?)?;
        let vstart = kend + 1; // after ':'
        let vend = value_end(b, vstart);
        if k == key.as_bytes() {
            return Some((vstart, vend));
        }
        i = vend + 1; // after ','
    }
    None
}

/// A stored line: the minified content with `"measurement_uid":"U"` spliced in before
/// its closing brace (after a `,` unless the object is empty).
pub fn splice_uid(content: &[u8], uid: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + uid.len() + 24);
    let body = content.strip_suffix(b"}").unwrap_or(content);
    out.extend_from_slice(body);
    if body != b"{" {
        out.push(b',');
    }
    out.extend_from_slice(b"\"measurement_uid\":\"");
    out.extend_from_slice(uid.as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings() {
        assert_eq!(
            minify(b"{ \"a b\" : [1, 2],\n \"c\":\"x\\\" y\" }"),
            b"{\"a b\":[1,2],\"c\":\"x\\\" y\"}".to_vec()
        );
    }

    #[test]
    fn content_span_and_splice() {
        let m = minify(br#"{"format": "json", "content": {"k": [1, {"x": "}"}]}, "z": 1}"#);
        let (s, e) = member_span(&m, "content").unwrap();
        assert_eq!(&m[s..e], br#"{"k":[1,{"x":"}"}]}"#);
        assert_eq!(
            splice_uid(&m[s..e], "U"),
            br#"{"k":[1,{"x":"}"}],"measurement_uid":"U"}"#.to_vec()
        );
        assert_eq!(splice_uid(b"{}", "U"), br#"{"measurement_uid":"U"}"#.to_vec());
        assert_eq!(member_span(&m, "nope"), None);
        let (s, e) = member_span(&m, "format").unwrap();
        assert_eq!(&m[s..e], b"\"json\"");
    }

    #[test]
    fn limits_and_encodings() {
        assert_eq!(decode(b"abc", None, 2), Err(BodyError::TooLarge));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &[b'a'; 1000]).unwrap();
        let z = gz.finish().unwrap();
        assert_eq!(decode(&z, Some("gzip"), 1000).unwrap().len(), 1000);
        assert_eq!(decode(&z, Some("gzip"), 999), Err(BodyError::TooLarge));
        assert!(matches!(decode(b"x", Some("br"), 10), Err(BodyError::UnknownEncoding(_))));
    }
}
