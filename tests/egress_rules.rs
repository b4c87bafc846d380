//! The rules of an HTTP client link's `allowed_hosts`, by themselves:
//! what each form allows, the default without rules, the addresses a
//! wildcard never reaches, and bad entries refused by name. The requests
//! themselves are in `outgoing_http.rs`.

use lattice_interfaces::Link;
use lattice_provider_http_client::Egress;

fn egress(list: Option<&str>, default_allow: bool) -> Egress {
    let mut link = Link::new(
        lattice_interfaces::ComponentId::new("a").unwrap(),
        lattice_interfaces::ComponentId::new("c").unwrap(),
        lattice_interfaces::Contract::parse("wasi:http/outgoing-handler").unwrap(),
    );
    if let Some(list) = list {
        link.target_config
            .insert("allowed_hosts".into(), list.into());
    }
    Egress::of(&link, default_allow).unwrap()
}

#[test]
fn rules_allow_what_they_name_and_nothing_else() {
    let e = egress(
        Some("api.example.com, *.cdn.net:443, https://secure.io, 10.0.0.5:8080"),
        false,
    );
    assert!(e.check("https", "api.example.com", 443).is_ok());
    assert!(e.check("http", "API.example.com", 80).is_ok());
    assert!(e.check("https", "img.cdn.net", 443).is_ok());
    assert!(e.check("https", "cdn.net", 443).is_err());
    assert!(e.check("https", "img.cdn.net", 8443).is_err());
    assert!(e.check("https", "secure.io", 443).is_ok());
    assert!(e.check("http", "secure.io", 80).is_err());
    assert!(e.check("http", "10.0.0.5", 8080).is_ok());
    assert!(e.check("http", "evil.com", 80).is_err());
    assert!(e.check("http", "api.example.com.evil.com", 80).is_err());
}

#[test]
fn without_rules_the_default_decides() {
    assert!(egress(None, false)
        .check("https", "example.com", 443)
        .is_err());
    assert!(egress(None, true)
        .check("https", "example.com", 443)
        .is_ok());
}

#[test]
fn loopback_link_local_and_metadata_need_a_rule_naming_them() {
    let any = egress(Some("*"), false);
    assert!(any.check("http", "example.com", 80).is_ok());
    for host in [
        "127.0.0.1",
        "169.254.169.254",
        "[::1]",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "fe80::1",
        // Private, shared and unique-local: the cluster's own services,
        // Alibaba's and AWS's IPv6 metadata addresses.
        "10.96.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "100.100.100.200",
        "fd00:ec2::254",
        // IPv4 carried in IPv6: compatible, NAT64, 6to4.
        "::127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
    ] {
        assert!(any.check("http", host, 80).is_err(), "{host}");
    }
    assert!(any.check("https", "93.184.216.34", 443).is_ok());
    assert!(any.check("https", "2606:2800:220:1::1", 443).is_ok());
    let named = egress(Some("127.0.0.1:8080, localhost"), false);
    assert!(named.check("http", "127.0.0.1", 8080).is_ok());
    assert!(named.check("http", "127.0.0.1", 9090).is_err());
    let loopback = ["127.0.0.1".parse().unwrap()];
    assert!(named
        .check_addresses("http", "localhost", 80, &loopback)
        .is_ok());
    assert!(any
        .check_addresses("http", "rebind.example", 80, &loopback)
        .is_err());
    // A rule's scheme limits what it names.
    let https_only = egress(Some("https://localhost, *"), false);
    assert!(https_only
        .check_addresses("http", "localhost", 80, &loopback)
        .is_err());
    assert!(https_only
        .check_addresses("https", "localhost", 443, &loopback)
        .is_ok());
}

#[test]
fn bad_entries_are_refused_by_name() {
    for bad in ["ftp://x.com", "x.com:http", "a*.com", "[::1", "user@x.com"] {
        let mut link = Link::new(
            lattice_interfaces::ComponentId::new("a").unwrap(),
            lattice_interfaces::ComponentId::new("c").unwrap(),
            lattice_interfaces::Contract::parse("wasi:http/outgoing-handler").unwrap(),
        );
        link.target_config
            .insert("allowed_hosts".into(), bad.into());
        let error = Egress::of(&link, false).unwrap_err();
        assert!(error.contains(bad), "{error}");
    }
}
