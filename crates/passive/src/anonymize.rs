//! Anonymization (spec §4): the router's hashes, reproduced exactly, and the server-side
//! pseudonyms and re-hashes applied at ingest.
//!
//! Router side every hash is HMAC-SHA1 under the router's 16-byte key. Server side node
//! ids become HMAC-SHA256 pseudonyms under a key derived from the data directory's
//! secret (md5 of the raw id only as a compatibility option: md5 of `OW` + MAC is
//! reversible by enumeration), and clear IPs are replaced by a keyed hash so that no
//! clear address reaches a table.

use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// HMAC-SHA1 of `data` under `key`.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    // HMAC accepts keys of any length; the error arm cannot happen.
    let Ok(mut mac) = HmacSha1::new_from_slice(key) else { return [0; 20] };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Byte order of the router that wrote the update: the MIPS routers are big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ByteOrder {
    /// MIPS routers (the deployed ones).
    #[default]
    Big,
    /// Little-endian builds.
    Little,
}

/// The router's hashes under one key.
#[derive(Debug, Clone)]
pub struct RouterKey(pub Vec<u8>);

impl RouterKey {
    /// hex(HMAC(key, key)): the anonymization context the update carries.
    pub fn signature(&self) -> String {
        hex::encode(hmac_sha1(&self.0, &self.0))
    }

    /// IPv4: HMAC of the host-order u32 as laid out in memory, first 8 digest bytes read
    /// as a native u64, printed `%x` (so a leading zero byte disappears).
    pub fn ip(&self, addr: [u8; 4], order: ByteOrder) -> String {
        let value = u32::from_be_bytes(addr);
        let mem = match order {
            ByteOrder::Big => value.to_be_bytes(),
            ByteOrder::Little => value.to_le_bytes(),
        };
        let d = hmac_sha1(&self.0, &mem);
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        let v = match order {
            ByteOrder::Big => u64::from_be_bytes(first),
            ByteOrder::Little => u64::from_le_bytes(first),
        };
        format!("{v:x}")
    }

    /// Domain, CNAME or URL: 40 hex of HMAC of the name bytes.
    pub fn domain(&self, name: &str) -> String {
        hex::encode(hmac_sha1(&self.0, name.as_bytes()))
    }

    /// MAC: the OUI clear, then digest bytes 3..5 → 12 hex.
    pub fn mac(&self, mac: [u8; 6]) -> String {
        let d = hmac_sha1(&self.0, &mac);
        let mut out = [0u8; 6];
        out[..3].copy_from_slice(&mac[..3]);
        out[3..].copy_from_slice(&d[3..6]);
        hex::encode(out)
    }
}

/// The clear form routers ≤ v2 wrote for whitelisted addresses: `%x` of the u32.
pub fn clear_ip(addr: [u8; 4]) -> String {
    format!("{:x}", u32::from_be_bytes(addr))
}

/// Parses a dotted quad.
pub fn parse_ipv4(text: &str) -> Option<[u8; 4]> {
    let addr: std::net::Ipv4Addr = text.parse().ok()?;
    Some(addr.octets())
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The whitelist entries a clear name matches: equal, or a suffix starting right after a
/// `.`; case-sensitive, dots literal (Python's unescaped regex matched `xgooglexcom`).
pub fn whitelist_matches<'a>(whitelist: &'a [String], name: &str) -> Vec<&'a str> {
    let mut out: Vec<&str> = whitelist
        .iter()
        .map(String::as_str)
        .filter(|w| {
            name == *w
                || (name.len() > w.len()
                    && name.ends_with(*w)
                    && name.as_bytes().get(name.len() - w.len() - 1) == Some(&b'.'))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// How published node ids are derived from raw ones (`passive.node_id_hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum NodeIdHash {
    /// HMAC-SHA256 under the server key (the default).
    #[default]
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    /// md5 of the raw id, as Python's `anonymize_data.py` (compatibility only).
    #[serde(rename = "md5")]
    Md5,
}

/// The server-side anonymizer: pseudonyms for node ids and re-hashes of clear IPs.
#[derive(Debug, Clone)]
pub struct ServerAnonymizer {
    /// Node pseudonym scheme; None keeps raw ids (tests only).
    pub node_id_hash: Option<NodeIdHash>,
    /// Key of the node pseudonyms.
    pub node_key: [u8; 32],
    /// Key of the clear-IP re-hash.
    pub rehash_key: Vec<u8>,
}

impl ServerAnonymizer {
    /// The published node id of a raw one.
    pub fn node_id(&self, raw: &str) -> String {
        match self.node_id_hash {
            None => raw.to_string(),
            Some(NodeIdHash::Md5) => vantage_core::hash::md5_hex(raw.as_bytes()),
            Some(NodeIdHash::HmacSha256) => {
                vantage_core::hmac_sha256_hex(&self.node_key, raw.as_bytes())
            }
        }
    }

    /// `s` + 16 hex of HMAC-SHA1(server key, context ‖ address in network order), for a
    /// clear `%x` IP token; None when the token is not hex of a u32.
    pub fn rehash_clear_ip(&self, context: &str, clear_hex: &str) -> Option<String> {
        let v = u32::from_str_radix(clear_hex, 16).ok()?;
        let mut msg = context.as_bytes().to_vec();
        msg.extend_from_slice(&v.to_be_bytes());
        let d = hmac_sha1(&self.rehash_key, &msg);
        Some(format!("s{}", hex::encode(&d[..8])))
    }

    /// Applies §4 to a parsed update: pseudonymous node id, clear IPs re-hashed in flows
    /// (flag 0) and in clear A records (v≤2). A clear token that is not hex is hashed as
    /// text, so that nothing clear survives.
    pub fn apply(&self, u: &mut crate::Update) {
        u.node_id = self.node_id(&u.node_id);
        let ctx = u.anonymization_context.clone().unwrap_or_default();
        let rehash = |tok: &mut String| {
            let new = self.rehash_clear_ip(&ctx, tok).unwrap_or_else(|| {
                format!("s{}", &hex::encode(hmac_sha1(&self.rehash_key, tok.as_bytes()))[..16])
            });
            *tok = new;
        };
        for f in &mut u.flows {
            if !f.src_anonymized {
                rehash(&mut f.src_ip);
            }
            if !f.dst_anonymized {
                rehash(&mut f.dst_ip);
            }
        }
        if u.file_format_version <= 2 {
            for a in &mut u.a_records {
                if !a.anonymized {
                    rehash(&mut a.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_and_ip_syntax() {
        assert_eq!(parse_mac("c4:3d:c7:8e:e0:81"), Some([0xc4, 0x3d, 0xc7, 0x8e, 0xe0, 0x81]));
        assert_eq!(parse_mac("c4:3d:c7:8e:e0"), None);
        assert_eq!(parse_mac("c4:3d:c7:8e:e0:81:00"), None);
        assert_eq!(parse_ipv4("10.0.0.1"), Some([10, 0, 0, 1]));
        assert_eq!(parse_ipv4("10.0.0"), None);
        assert_eq!(clear_ip([10, 0, 0, 1]), "a000001");
    }

    #[test]
    fn whitelist_suffix_must_follow_a_dot() {
        let wl: Vec<String> = ["google.com", "com"].iter().map(|s| s.to_string()).collect();
        assert_eq!(whitelist_matches(&wl, "www.google.com"), vec!["com", "google.com"]);
        assert!(whitelist_matches(&wl, "xgooglexcom").is_empty());
        assert!(whitelist_matches(&wl, "Google.COM").is_empty());
    }
}

/// What `vantage passive hash` prints for one value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hashed {
    /// The value given.
    pub value: String,
    /// `ip`, `mac`, `domain` or `signature`.
    pub kind: &'static str,
    /// The router's form.
    pub hash: String,
}

/// The router forms of values: a dotted quad is an IP, `aa:bb:cc:dd:ee:ff` a MAC, any
/// other a domain (`force_domain` hashes everything as a domain); `signature` prepends the
/// key's signature.
pub fn hash_values(
    key: &RouterKey,
    order: ByteOrder,
    values: &[String],
    force_domain: bool,
    signature: bool,
) -> Vec<Hashed> {
    let mut out = Vec::new();
    if signature {
        out.push(Hashed { value: String::new(), kind: "signature", hash: key.signature() });
    }
    for v in values {
        let h = match (force_domain, parse_ipv4(v), parse_mac(v)) {
            (false, Some(ip), _) => {
                Hashed { value: v.clone(), kind: "ip", hash: key.ip(ip, order) }
            }
            (false, None, Some(mac)) => {
                Hashed { value: v.clone(), kind: "mac", hash: key.mac(mac) }
            }
            _ => Hashed { value: v.clone(), kind: "domain", hash: key.domain(v) },
        };
        out.push(h);
    }
    out
}
