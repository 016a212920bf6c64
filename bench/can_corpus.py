#!/usr/bin/env python3
"""Deterministic corpus of JSON measurement files for bench/can.sh.

usage: can_corpus.py OUT_DIR MIB [SEED]

Writes files of JSON lines shaped like OONI web_connectivity measurements (ids, IPs,
timestamps, HTTP headers, bodies of varying entropy) into OUT_DIR/<cc>/<date>/..., file
sizes spread log-uniformly from 1 KiB to 2 MiB, until MIB mebibytes are written. The same
arguments always give the same bytes.
"""
import os
import random
import sys

CCS = ["IT", "US", "BR", "IR", "RU", "IN", "DE", "CN", "TR", "EG", "VE", "ID"]
TESTS = ["web_connectivity", "dns_consistency", "http_header_field_manipulation", "ndt", "tor"]
SITES = ["example.com", "twitter.com", "facebook.com", "bbc.co.uk", "wikipedia.org", "torproject.org",
         "youtube.com", "reddit.com", "nytimes.com", "signal.org", "github.com", "ooni.org"]
WORDS = ("the of and to in is you that it he was for on are as with his they at be this have from or "
         "one had by word but not what all were we when your can said there use an each which she do how "
         "their if will up other about out many then them these so some her would make like him into time "
         "has look two more write go see number no way could people my than first water been call who").split()


def record(rng, i, cc, test):
    ip = ".".join(str(rng.randrange(1, 255)) for _ in range(4))
    site = rng.choice(SITES)
    t = 1704067200 + rng.randrange(0, 86400 * 30)
    ts = f"2024-01-{1 + (t - 1704067200) // 86400:02d} {t % 86400 // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
    body_words = rng.randrange(5, 120)
    body = " ".join(rng.choice(WORDS) for _ in range(body_words))
    noise = "%032x" % rng.getrandbits(128)
    status = rng.choice([200, 200, 200, 301, 302, 403, 404, 500])
    return (
        '{"id":"%08x-%04x-%04x-%04x-%012x","measurement_start_time":"%s","probe_cc":"%s","probe_asn":"AS%d",'
        '"probe_ip":"127.0.0.1","test_name":"%s","test_version":"0.4.%d","input":"https://%s/%d",'
        '"report_id":"20240101T000000Z_%s_%s_n1_%s","software_name":"ooniprobe","software_version":"3.%d.%d",'
        '"test_keys":{"client_resolver":"%s","dns_experiment_failure":%s,"http_experiment_failure":%s,'
        '"requests":[{"request":{"url":"https://%s/","headers":{"User-Agent":"Mozilla/5.0","Accept-Language":"en-US;q=0.8"}},'
        '"response":{"code":%d,"headers":{"Server":"nginx","Content-Length":"%d","ETag":"%s"},"body":"%s"}}],'
        '"tcp_connect":[{"ip":"%s","port":443,"status":{"success":%s,"failure":null}}],"blocking":%s,"accessible":%s},'
        '"n":%d}\n'
    ) % (
        rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(48),
        ts, cc, rng.randrange(1, 65000), test, rng.randrange(0, 9), site, rng.randrange(0, 10**6),
        cc, test.upper()[:4], noise[:20], rng.randrange(0, 20), rng.randrange(0, 9),
        ip, rng.choice(["null", '"dns_nxdomain_error"']), rng.choice(["null", '"connection_reset"', '"generic_timeout_error"']),
        site, status, len(body), noise, body,
        ip, rng.choice(["true", "false"]), rng.choice(["false", '"dns"', '"tcp_ip"', '"http-diff"']),
        rng.choice(["true", "false"]), i,
    )


def main():
    out, mib = sys.argv[1], float(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 20240101)
    target = int(mib * 1024 * 1024)
    written = n = 0
    while written < target:
        cc, test = rng.choice(CCS), rng.choice(TESTS)
        day = f"2024-01-{rng.randrange(1, 31):02d}"
        size = int(1024 * 2048 ** rng.random())  # 1 KiB .. 2 MiB, log-uniform
        size = min(size, target - written) or 1
        d = os.path.join(out, cc, day)
        os.makedirs(d, exist_ok=True)
        parts, have, i = [], 0, 0
        while have < size:
            r = record(rng, i, cc, test)
            parts.append(r)
            have += len(r)
            i += 1
        data = "".join(parts).encode()[:size]
        with open(os.path.join(d, f"{day.replace('-', '')}T{n:06d}Z-{cc}-{test}.json"), "wb") as f:
            f.write(data)
        written += len(data)
        n += 1
    print(f"{n} files, {written} bytes in {out}")


if __name__ == "__main__":
    main()
