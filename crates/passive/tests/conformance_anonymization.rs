//! Router hashes, whitelist matching, node pseudonyms and clear-IP re-hashes against
//! `vectors/anonymization.json`.

use vantage_passive::anonymize::{self, ByteOrder, NodeIdHash, RouterKey, ServerAnonymizer};

#[test]
fn router_hashes_match_the_vectors() {
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let v = vantage_testkit::read_json(&dir.join("vectors/anonymization.json"));
    let mut checked = 0;
    for k in v["keys"].as_array().unwrap() {
        let key = RouterKey(hex::decode(k["key_hex"].as_str().unwrap()).unwrap());
        assert_eq!(key.signature(), k["signature"]);
        for ip in k["ips"].as_array().unwrap() {
            let addr = anonymize::parse_ipv4(ip["ip"].as_str().unwrap()).unwrap();
            assert_eq!(key.ip(addr, ByteOrder::Big), ip["big_endian_router"], "{ip}");
            assert_eq!(key.ip(addr, ByteOrder::Little), ip["little_endian_router"], "{ip}");
            assert_eq!(anonymize::clear_ip(addr), ip["clear_form"]);
            checked += 1;
        }
        for d in k["domains"].as_array().unwrap() {
            assert_eq!(key.domain(d["domain"].as_str().unwrap()), d["hash"]);
            checked += 1;
        }
        for m in k["macs"].as_array().unwrap() {
            let mac = anonymize::parse_mac(m["mac"].as_str().unwrap()).unwrap();
            assert_eq!(key.mac(mac), m["hash"]);
            checked += 1;
        }
    }
    assert!(checked > 10);
}

#[test]
fn whitelist_matching_vectors() {
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let v = vantage_testkit::read_json(&dir.join("vectors/anonymization.json"));
    let wm = &v["whitelist_matching"];
    let wl: Vec<String> = wm["whitelist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    for case in wm["cases"].as_array().unwrap() {
        let got = anonymize::whitelist_matches(&wl, case["name"].as_str().unwrap());
        let want: Vec<&str> =
            case["matches"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn server_side_vectors() {
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let v = vantage_testkit::read_json(&dir.join("vectors/anonymization.json"));
    let s = &v["server_side"];
    let anon = ServerAnonymizer {
        node_id_hash: Some(NodeIdHash::Md5),
        node_key: [0; 32],
        rehash_key: hex::decode(s["server_key_hex"].as_str().unwrap()).unwrap(),
    };
    for p in s["node_pseudonyms"].as_array().unwrap() {
        assert_eq!(anon.node_id(p["raw_node_id"].as_str().unwrap()), p["node_id"]);
    }
    for r in s["clear_ip_rehash"].as_array().unwrap() {
        let got = anon.rehash_clear_ip(
            r["anonymization_context"].as_str().unwrap(),
            r["clear"].as_str().unwrap(),
        );
        assert_eq!(got.as_deref(), r["stored"].as_str());
    }
    // The default scheme is keyed: another key, another pseudonym.
    let a = ServerAnonymizer { node_id_hash: Some(NodeIdHash::HmacSha256), ..anon.clone() };
    let b = ServerAnonymizer { node_key: [1; 32], ..a.clone() };
    assert_ne!(a.node_id("OW0123456789AB"), b.node_id("OW0123456789AB"));
    assert_eq!(a.node_id("OW0123456789AB").len(), 64);
}
