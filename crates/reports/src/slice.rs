//! Cutting a report file into frames and badblobs (spec §5.1).
//!
//! Offsets are bytes in the report file. Slicing never fails: bytes that cannot be a frame
//! become a [`Piece::Blob`] with its reason, and slicing resumes where the spec says, so one
//! broken frame costs one badblob and never the report's tail.

/// One cut of a report file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A candidate document: YAML `---\n … \n...\n`, or one JSON line without `\n`/`\r`.
    Frame {
        /// Offset in the file.
        off: usize,
        /// Length in bytes.
        len: usize,
    },
    /// Bytes that are no frame.
    Blob {
        /// Offset in the file.
        off: usize,
        /// Length in bytes.
        len: usize,
        /// Why.
        reason: BlobReason,
    },
}

/// Why a slice of bytes is a badblob; [`BlobReason::as_str`] is the `info` of the index
/// event and of `reports_badblob`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobReason {
    /// A frame without its end (YAML) or a last line that does not parse (JSON).
    Truncated,
    /// Bytes outside any frame.
    BrokenFrame,
    /// The header frame did not parse to a mapping.
    BadHeader,
    /// A frame after a bad header.
    NoHeader,
    /// A YAML entry that did not parse.
    YamlError,
    /// A JSON line that did not parse to an object.
    JsonError,
    /// Normalization failed, with its reason.
    NormalizeError(String),
    /// A later datum with a measurement_uid already taken (§5.4).
    DuplicateUid,
}

impl BlobReason {
    /// The reason as written in indexes and tables.
    pub fn as_str(&self) -> std::borrow::Cow<'static, str> {
        match self {
            BlobReason::Truncated => "truncated".into(),
            BlobReason::BrokenFrame => "broken_frame".into(),
            BlobReason::BadHeader => "bad_header".into(),
            BlobReason::NoHeader => "no_header".into(),
            BlobReason::YamlError => "yaml_error".into(),
            BlobReason::JsonError => "json_error".into(),
            BlobReason::NormalizeError(r) => format!("normalize_error: {r}").into(),
            BlobReason::DuplicateUid => "duplicate_uid".into(),
        }
    }
}

/// Lines of `bytes` as `(offset, line including its '\n' if any)`.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut off = 0;
    std::iter::from_fn(move || {
        if off >= bytes.len() {
            return None;
        }
        let rest = &bytes[off..];
        let len = memchr::memchr(b'\n', rest).map(|p| p + 1).unwrap_or(rest.len());
        let start = off;
        off += len;
        Some((start, &rest[..len]))
    })
}

fn is_frame_start(line: &[u8]) -> bool {
    line == b"---\n" || line == b"---" || line.starts_with(b"--- ")
}

/// Slices a YAML 0.1.0 report: frames, and blobs `truncated` / `broken_frame`.
pub fn yaml(bytes: &[u8]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut it = lines(bytes).peekable();
    while let Some((off, line)) = it.next() {
        if is_frame_start(line) {
            let mut end = off + line.len();
            let mut closed = false;
            for (o, l) in it.by_ref() {
                end = o + l.len();
                if l == b"...\n" {
                    closed = true;
                    break;
                }
            }
            if closed {
                out.push(Piece::Frame { off, len: end - off });
            } else {
                out.push(Piece::Blob { off, len: end - off, reason: BlobReason::Truncated });
                break;
            }
        } else if line == b"...\n"
            || line.starts_with(b"#")
            || line.iter().all(|b| b.is_ascii_whitespace())
        {
            continue;
        } else {
            let mut end = off + line.len();
            while let Some(&(o, l)) = it.peek() {
                if l == b"---\n" || l == b"---" {
                    break;
                }
                end = o + l.len();
                it.next();
            }
            out.push(Piece::Blob { off, len: end - off, reason: BlobReason::BrokenFrame });
        }
    }
    out
}

/// Slices a JSON-lines report: one frame per non-blank line starting with `{` (the
/// `\n` and one `\r` excluded); other lines are `broken_frame`. A last line without `\n`
/// is returned as a frame; the caller turns it into `truncated` if it does not parse.
pub fn jsonl(bytes: &[u8]) -> Vec<Piece> {
    let mut out = Vec::new();
    for (off, line) in lines(bytes) {
        let mut body = line.strip_suffix(b"\n").unwrap_or(line);
        body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if body.first() == Some(&b'{') {
            out.push(Piece::Frame { off, len: body.len() });
        } else {
            out.push(Piece::Blob { off, len: body.len(), reason: BlobReason::BrokenFrame });
        }
    }
    out
}

/// True when the JSON frame at `off..off+len` is the file's last line and has no `\n`.
pub fn is_unterminated(bytes: &[u8], off: usize, len: usize) -> bool {
    off + len >= bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(text: &str) -> Vec<String> {
        yaml(text.as_bytes())
            .into_iter()
            .filter_map(|p| match p {
                Piece::Frame { off, len } => Some(text[off..off + len].to_string()),
                Piece::Blob { .. } => None,
            })
            .collect()
    }

    #[test]
    fn yaml_frames_skip_banners_comments_and_duplicate_trailers() {
        assert_eq!(frames("# foo\n---\n# WAT!\na: b\n...\n"), ["---\n# WAT!\na: b\n...\n"]);
        assert_eq!(frames("---\nnull\n...\n...\n---\nnull\n...\n"), ["---\nnull\n...\n"; 2]);
    }

    #[test]
    fn stray_lines_are_one_broken_frame_up_to_the_next_start() {
        let text = "---\na: 1\n...\nstray\nmore\n---\nb: 2\n...\n";
        let p = yaml(text.as_bytes());
        assert_eq!(p[1], Piece::Blob { off: 13, len: 11, reason: BlobReason::BrokenFrame });
        assert_eq!(p[2], Piece::Frame { off: 24, len: 13 });
    }

    #[test]
    fn an_unclosed_frame_is_truncated_to_eof() {
        let p = yaml(b"---\na: 1\n...\n---\nb: 1.");
        assert_eq!(p[1], Piece::Blob { off: 13, len: 9, reason: BlobReason::Truncated });
    }

    #[test]
    fn jsonl_lines() {
        let p = jsonl(b"{a}\r\n\nxx\n{b}");
        assert_eq!(
            p,
            [
                Piece::Frame { off: 0, len: 3 },
                Piece::Blob { off: 6, len: 2, reason: BlobReason::BrokenFrame },
                Piece::Frame { off: 9, len: 3 },
            ]
        );
        assert!(is_unterminated(b"{a}\r\n\nxx\n{b}", 9, 3));
    }
}
