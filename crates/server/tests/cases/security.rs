//! Start-up refusals and token enforcement.

use vantage_core::{Exit, HasExit};
use vantage_server::{ServeError, Server};

use crate::fixture;
use crate::http::{eventually, get, request};

#[test]
fn non_loopback_bind_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = fixture::config(dir.path(), None, &[]);
    cfg.server.bind = "0.0.0.0:0".into();
    cfg.server.token = None;
    match Server::bind(&cfg) {
        Err(e @ ServeError::NoToken(_)) => {
            assert_eq!(e.exit(), Exit::Usage);
            assert!(e.to_string().contains("token"), "{e}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("started on 0.0.0.0 without a token"),
    }
    cfg.server.bind = "not an address".into();
    assert!(matches!(Server::bind(&cfg), Err(ServeError::BadBind(_))));
}

#[test]
fn loopback_without_token_is_read_only_and_limits_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = fixture::config(dir.path(), None, &["passive.max_upload_bytes=1000"]);
    let running = Server::bind(&cfg).unwrap().without_ticks().spawn();
    let addr = running.addr;
    // With the token: a body above the limit is a 413 in our error shape.
    let big = vec![0u8; 5000];
    let a = request(
        addr,
        "POST",
        "/api/v1/passive/upload?name=x-1-0.gz",
        &[("Authorization", "Bearer test-token-0123")],
        &big,
    );
    assert_eq!((a.status, a.error_code().as_str()), (413, "payload_too_large"));
    let a = request(
        addr,
        "POST",
        "/api/v1/passive/upload?name=x-1-0.gz",
        &[("Authorization", "Bearer wrong")],
        b"x",
    );
    assert_eq!(a.status, 401);
    running.stop().unwrap();

    cfg.server.token = None;
    let running = Server::bind(&cfg).unwrap().without_ticks().spawn();
    let addr = running.addr;
    assert!(eventually(5, || get(addr, "/healthz").status == 200));
    let a = request(
        addr,
        "POST",
        "/api/v1/netstate/upload?source=s&name=x",
        &[("Authorization", "Bearer anything")],
        b"x",
    );
    assert_eq!((a.status, a.error_code().as_str()), (403, "no_token_configured"));
    // The collector needs no token, and its body limit answers as OONI's.
    let a = request(addr, "POST", "/report", &[], b"{}");
    assert_eq!(a.status, 400);
    assert!(a.json()["error"].is_string());
    running.stop().unwrap();
}

/// The repository's `vantage.example.toml` is a valid configuration: every section
/// types, the packet classes build, and a server starts from it (on port 0).
#[test]
fn example_configuration_types_and_starts() {
    let file = vantage_testkit::repo_root().join("vantage.example.toml");
    let dir = tempfile::tempdir().unwrap();
    let args = vantage_core::GlobalArgs {
        data: Some(dir.path().to_path_buf()),
        config: Some(file.clone()),
        overrides: vec!["server.bind=127.0.0.1:0".into()],
        ..Default::default()
    };
    let cfg = vantage_core::Config::load_with_env(&args, |_| None, Vec::new())
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let packets: vantage_packets::PacketsConfig = cfg.section("packets").unwrap();
    assert_eq!(packets.build().unwrap().len(), 2);
    let _: vantage_reports::ReportsConfig = cfg.section("reports").unwrap();
    let _: vantage_passive::PassiveConfig = cfg.section("passive").unwrap();
    let _: vantage_netstate::NetstateConfig = cfg.section("netstate").unwrap();
    assert_eq!(cfg.server.tick_seconds, 60);
    let running = Server::bind(&cfg).expect("starts from the example").without_ticks().spawn();
    assert!(eventually(5, || get(running.addr, "/healthz").status == 200));
    running.stop().unwrap();
}

#[test]
fn api_requests_are_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fixture::config(dir.path(), None, &[]);
    let running = Server::bind(&cfg).unwrap().without_ticks().spawn();
    let addr = running.addr;
    let mut limited = None;
    for i in 0..5000 {
        let a = get(addr, "/api/v1/no-such-endpoint");
        if a.status == 429 {
            limited = Some((i, a));
            break;
        }
        assert_eq!(a.status, 404);
    }
    let (i, a) = limited.expect("never rate limited");
    assert!(i >= 500, "limited after only {i} requests");
    assert_eq!(a.error_code(), "rate_limited");
    assert!(a.header("retry-after").is_some());
    // The UI and the collector are outside /api/v1's limit.
    assert_eq!(get(addr, "/healthz").status, 200);
    running.stop().unwrap();
}

#[test]
fn server_rate_burst_and_max_body_come_from_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fixture::config(
        dir.path(),
        None,
        &["server.rate=0.5", "server.burst=3", "server.max_body=100"],
    );
    assert_eq!((cfg.server.rate, cfg.server.burst, cfg.server.max_body), (0.5, 3.0, 100));
    let running = Server::bind(&cfg).unwrap().without_ticks().spawn();
    let addr = running.addr;
    let statuses: Vec<u16> = (0..4).map(|_| get(addr, "/api/v1/status").status).collect();
    assert_eq!(statuses, [200, 200, 200, 429], "a burst of 3, then the 0.5/s rate");
    running.stop().unwrap();

    // The body limit of netstate uploads: 100 bytes pass the limit, 101 do not.
    let cfg = fixture::config(dir.path(), None, &["server.max_body=100"]);
    let running = Server::bind(&cfg).unwrap().without_ticks().spawn();
    let auth = ("Authorization", "Bearer test-token-0123");
    let up = "/api/v1/netstate/upload?source=s&name=LLDP_LINKS-1-2-0.sql";
    let big = request(running.addr, "POST", up, &[auth], &[b'x'; 101]);
    assert_eq!((big.status, big.error_code().as_str()), (413, "payload_too_large"));
    let small = request(running.addr, "POST", up, &[auth], &[b'x'; 100]);
    assert_eq!(small.status, 202, "{}", String::from_utf8_lossy(&small.body));
    running.stop().unwrap();
}
