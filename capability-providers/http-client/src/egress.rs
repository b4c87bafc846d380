//! Where an actor's outgoing requests may go: a link's `allowed_hosts`,
//! else the provider's default (`egress = "deny"`, the default, or
//! `"allow"`).
//!
//! `allowed_hosts` is a comma-separated list of rules: `HOST`,
//! `HOST:PORT`, `*.DOMAIN` (any name under it), `SCHEME://` before any of
//! them (`https://api.example.com`), or `*` (any public address).
//! Loopback, link-local (the cloud metadata address 169.254.169.254 among
//! them), private and unique-local addresses, and IPv4 carried in IPv6,
//! are refused unless a rule names that host or address itself, whether
//! the request names the address or a name that resolves to one. Lattice never follows a redirect for an actor, so each
//! hop is a request of its own, checked the same way.

use std::net::IpAddr;

use lattice_interfaces::Link;

/// A link's rules, and what a link without any gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    /// `None`: the link sets no `allowed_hosts`, the default applies.
    rules: Option<Vec<Rule>>,
    /// What a link without rules may reach.
    default_allow: bool,
}

/// One entry of `allowed_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    scheme: Option<String>,
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`: names under `example.com`, stored with its dot.
    Under(String),
    Exact(String),
}

/// Why a request may not leave, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_rule(text: &str) -> Result<Rule, String> {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, text),
    };
    if let Some(scheme) = &scheme {
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "allowed_hosts entry {text:?}: scheme {scheme:?} is not http or https"
            ));
        }
    }
    let rest = rest.trim_end_matches('/');
    if rest == "*" {
        return Ok(Rule {
            scheme,
            host: HostPattern::Any,
            port: None,
        });
    }
    // `[v6]:port`, `v6`, `host:port`, `host`.
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("allowed_hosts entry {text:?}: an unclosed '['"))?;
        (host, after.strip_prefix(':'))
    } else if rest.matches(':').count() == 1 {
        let (host, port) = rest.split_once(':').unwrap_or((rest, ""));
        (host, Some(port))
    } else {
        (rest, None)
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("allowed_hosts entry {text:?}: port {p:?} is not a port"))
        })
        .transpose()?;
    let host = host.to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(format!("allowed_hosts entry {text:?} is not a host"));
    }
    let host = match host.strip_prefix("*.") {
        Some(domain) if !domain.is_empty() && !domain.contains('*') => {
            HostPattern::Under(format!(".{domain}"))
        }
        _ if host.contains('*') => {
            return Err(format!(
                "allowed_hosts entry {text:?}: '*' may only begin a name (*.example.com)"
            ))
        }
        _ => HostPattern::Exact(host),
    };
    Ok(Rule { scheme, host, port })
}

/// The IPv4 address inside `v6`, where one is carried: IPv4-mapped,
/// IPv4-compatible, NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let from = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some(from(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(from(hi, lo)),
        [0x2002, hi, lo, ..] => Some(from(hi, lo)),
        _ => None,
    }
}

/// Whether requests may reach `address` without a rule naming it: public
/// addresses only. Loopback, link-local (169.254.169.254, the cloud
/// metadata address, among them), unspecified, private (10/8, 172.16/12,
/// 192.168/16), shared (100.64/10, where Alibaba's metadata lives) and
/// unique-local IPv6 (fc00::/7, AWS's fd00:ec2::254) are not, nor IPv4
/// carried inside IPv6.
fn public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_private()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || (first & 0xffc0) == 0xfe80
                    || (first & 0xfe00) == 0xfc00)
            }
        },
    }
}

impl Egress {
    /// The rules of `link` (`allowed_hosts`), with `default_allow` for a
    /// link that sets none.
    ///
    /// # Errors
    ///
    /// An entry that is not a rule, named.
    pub fn of(link: &Link, default_allow: bool) -> Result<Self, String> {
        let rules = link
            .config("allowed_hosts")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|entry| !entry.is_empty())
                    .map(parse_rule)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Self {
            rules,
            default_allow,
        })
    }

    /// Anything anywhere (tests, and hosts run with `--egress allow`
    /// whose links set nothing).
    pub fn allow_all() -> Self {
        Self {
            rules: None,
            default_allow: true,
        }
    }

    /// Whether a rule names `host` itself (not through `*`), for this
    /// scheme and port.
    fn names(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.rules.iter().flatten().any(|rule| {
            rule.host == HostPattern::Exact(host.to_string())
                && rule.port.is_none_or(|p| p == port)
                && rule.scheme.as_deref().is_none_or(|s| s == scheme)
        })
    }

    /// Checks a request to `scheme://host:port` before it is resolved.
    ///
    /// # Errors
    ///
    /// Why it may not leave.
    pub fn check(&self, scheme: &str, host: &str, port: u16) -> Result<(), Denied> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let allowed = match &self.rules {
            None => self.default_allow,
            Some(rules) => rules.iter().any(|rule| {
                rule.scheme.as_deref().is_none_or(|s| s == scheme)
                    && rule.port.is_none_or(|p| p == port)
                    && match &rule.host {
                        HostPattern::Any => true,
                        HostPattern::Under(domain) => host.ends_with(domain.as_str()),
                        HostPattern::Exact(exact) => *exact == host,
                    }
            }),
        };
        if !allowed {
            return Err(Denied(match &self.rules {
                None => format!("{scheme}://{host}:{port} is not allowed: the link sets no allowed_hosts and this provider denies egress by default"),
                Some(_) => format!("{scheme}://{host}:{port} is not in the link's allowed_hosts"),
            }));
        }
        if let Ok(address) = host.parse::<IpAddr>() {
            self.check_addresses(scheme, &host, port, &[address])?;
        }
        Ok(())
    }

    /// Checks what `host` resolved to: only public addresses unless a
    /// rule names the host itself.
    ///
    /// # Errors
    ///
    /// The first other address, named.
    pub fn check_addresses(
        &self,
        scheme: &str,
        host: &str,
        port: u16,
        addresses: &[IpAddr],
    ) -> Result<(), Denied> {
        if self.names(scheme, &host.to_ascii_lowercase(), port) {
            return Ok(());
        }
        match addresses.iter().find(|a| !public(**a)) {
            Some(address) => Err(Denied(format!(
                "{host} is {address}, a loopback, link-local, private or metadata address: allowed only when allowed_hosts names {host} itself"
            ))),
            None => Ok(()),
        }
    }
}
