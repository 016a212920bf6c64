//! The text of an HTML body for `body_text_simhash` (§6.4): comments, `<script>`/`<style>`
//! elements, tags and entities removed, each replaced by a space, in that order, as four
//! regular expressions define it ([`html_text`]). ASCII bodies take hand-written passes
//! with the same matches (leftmost, shortest, each pass over the previous one's output),
//! several times faster; others go through the expressions.

use memchr::memmem;

/// The four expressions, applied in turn.
fn expressions() -> &'static [regex::Regex; 4] {
    static RES: std::sync::OnceLock<[regex::Regex; 4]> = std::sync::OnceLock::new();
    RES.get_or_init(|| {
        [
            regex::Regex::new(r"(?s)<!--.*?-->").expect("constant regex"),
            regex::Regex::new(r"(?is)<(script|style)\b.*?</(script|style)\s*>")
                .expect("constant regex"),
            regex::Regex::new(r"(?s)<[^>]*>").expect("constant regex"),
            regex::Regex::new(r"&[#A-Za-z0-9]+;").expect("constant regex"),
        ]
    })
}

/// The text of an HTML body without comments, `<script>`/`<style>` elements, tags and
/// entities (the input of `body_text_simhash`).
pub fn html_text(body: &str) -> String {
    if body.is_ascii() {
        let mut out = Vec::new();
        ascii_html_text(body.as_bytes(), &mut out, &mut Vec::new());
        // ASCII in, ASCII (and spaces) out.
        return String::from_utf8(out).unwrap_or_default();
    }
    let mut t = body.to_string();
    for re in expressions() {
        t = re.replace_all(&t, " ").into_owned();
    }
    t
}

/// [`html_text`] of an ASCII body into `out`, `scratch` holding the passes in between.
pub(super) fn ascii_html_text(body: &[u8], out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    scratch.clear();
    comments(body, scratch);
    out.clear();
    elements(scratch, out);
    scratch.clear();
    tags(out, scratch);
    out.clear();
    entities(scratch, out);
}

/// `<!--.*?-->`: from each `<!--`, the first `-->` after it. Without one, no later opener
/// has one either.
fn comments(s: &[u8], out: &mut Vec<u8>) {
    let (open, close) = (memmem::Finder::new(b"<!--"), memmem::Finder::new(b"-->"));
    let mut at = 0;
    while let Some(o) = open.find(&s[at..]).map(|o| at + o) {
        let Some(c) = close.find(&s[o + 4..]).map(|c| o + 4 + c) else { break };
        out.extend_from_slice(&s[at..o]);
        out.push(b' ');
        at = c + 3;
    }
    out.extend_from_slice(&s[at..]);
}

/// Whether `s[at..]` starts with `script` or `style` (any case); the name's length.
fn element_name(s: &[u8], at: usize) -> Option<usize> {
    let rest = &s[at.min(s.len())..];
    ["script", "style"].iter().find_map(|n| {
        (rest.len() >= n.len() && rest[..n.len()].eq_ignore_ascii_case(n.as_bytes()))
            .then_some(n.len())
    })
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `\s` on ASCII.
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// `(?is)<(script|style)\b.*?</(script|style)\s*>`.
fn elements(s: &[u8], out: &mut Vec<u8>) {
    let mut at = 0;
    let mut from = 0;
    loop {
        // The next opener: `<` + a name + a word boundary.
        let opener = memchr::memchr_iter(b'<', &s[from..]).map(|i| from + i).find_map(|o| {
            let n = element_name(s, o + 1)?;
            let next = s.get(o + 1 + n).copied();
            (!next.is_some_and(is_word)).then_some((o, o + 1 + n))
        });
        let Some((o, body)) = opener else { break };
        // The first closer after the name; none means no later opener has one either.
        let closer = memmem::find_iter(&s[body..], b"</").map(|i| body + i).find_map(|c| {
            let n = element_name(s, c + 2)?;
            let mut e = c + 2 + n;
            while s.get(e).copied().is_some_and(is_space) {
                e += 1;
            }
            (s.get(e) == Some(&b'>')).then_some(e + 1)
        });
        let Some(end) = closer else { break };
        out.extend_from_slice(&s[at..o]);
        out.push(b' ');
        at = end;
        from = end;
    }
    out.extend_from_slice(&s[at..]);
}

/// `<[^>]*>`: from each `<`, the first `>` after it.
fn tags(s: &[u8], out: &mut Vec<u8>) {
    let mut at = 0;
    while let Some(o) = memchr::memchr(b'<', &s[at..]).map(|o| at + o) {
        let Some(c) = memchr::memchr(b'>', &s[o + 1..]).map(|c| o + 1 + c) else { break };
        out.extend_from_slice(&s[at..o]);
        out.push(b' ');
        at = c + 1;
    }
    out.extend_from_slice(&s[at..]);
}

/// `&[#A-Za-z0-9]+;`.
fn entities(s: &[u8], out: &mut Vec<u8>) {
    let mut at = 0;
    let mut from = 0;
    while let Some(o) = memchr::memchr(b'&', &s[from..]).map(|o| from + o) {
        let mut e = o + 1;
        while s.get(e).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'#') {
            e += 1;
        }
        if e > o + 1 && s.get(e) == Some(&b';') {
            out.extend_from_slice(&s[at..o]);
            out.push(b' ');
            at = e + 1;
            from = e + 1;
        } else {
            from = o + 1;
        }
    }
    out.extend_from_slice(&s[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_expressions(body: &str) -> String {
        let mut t = body.to_string();
        for re in expressions() {
            t = re.replace_all(&t, " ").into_owned();
        }
        t
    }

    #[test]
    fn drops_markup() {
        assert_eq!(
            html_text("<b>a</b><!-- x --><script>y</script>&amp;")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["a"]
        );
    }

    #[test]
    fn same_as_the_expressions() {
        for t in [
            "<scr<!-- -->ipt>x</script>y",
            "<SCRIPT type=x>a</StYlE  >b<style>c",
            "<scripts>a</script>b",
            "<script>a</script x>b</script\n>c",
            "<!-- a > b -->c<d <!-- e --> f>g",
            "<!--->x-->y<!-->z",
            "&amp;&#12;&;&x &y;&&z;",
            "a<b<c>d>e<f",
            "<style>a<!--</style>-->b",
        ] {
            assert_eq!(html_text(t), by_expressions(t), "{t}");
        }
    }

    proptest::proptest! {
        #[test]
        fn ascii_passes_equal_the_expressions(
            body in "(<|>|!|-|/|&|;|#|x|s|S|c|r|i|p|t|y|l|e| |\n|\t|_|1|<!--|-->|<script|</script>|<style|</STYLE >|&amp;|\x0b|\x1c){0,40}"
        ) {
            proptest::prop_assert_eq!(html_text(&body), by_expressions(&body));
        }
    }
}
