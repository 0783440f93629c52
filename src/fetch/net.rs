//! Which addresses a remote fetch may reach, checked on the addresses actually connected to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// What remote fetches may reach. By default only `https://` and public addresses: a
/// composition written by a stranger cannot make reel read the machine's own services,
/// the private network, or a cloud's metadata endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetPolicy {
    /// Loopback and private addresses (10/8, 172.16/12, 192.168/16, 127/8, fc00::/7, ::1,
    /// 100.64/10) may be reached, over plain `http://` too: tests, a bucket inside a
    /// private network. Link-local and metadata addresses (169.254/16, fe80::/10,
    /// 100.100.100.200, fd00:ec2::254) stay refused.
    pub allow_private: bool,
}

impl NetPolicy {
    /// Why `ip` may not be reached under this policy (`"a loopback address"`), if it may not.
    /// For other outbound requests an embedder makes on a stranger's behalf (webhooks).
    pub fn refusal(self, ip: IpAddr) -> Option<&'static str> {
        refused(ip, self)
    }
}

/// Why `ip` may not be reached, if it may not.
pub(super) fn refused(ip: IpAddr, policy: NetPolicy) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    let (metadata, private) = match ip {
        IpAddr::V4(a) => classify_v4(a),
        IpAddr::V6(a) => classify_v6(a),
    };
    if let Some(why) = metadata {
        return Some(why);
    }
    match private {
        Some(why) if !policy.allow_private => Some(why),
        _ => None,
    }
}

/// (never reachable, reachable only with `allow_private`).
fn classify_v4(a: Ipv4Addr) -> (Option<&'static str>, Option<&'static str>) {
    let o = a.octets();
    if a.is_link_local() || a == Ipv4Addr::new(100, 100, 100, 200) {
        return (Some("a link-local or cloud metadata address"), None);
    }
    if a.is_unspecified() || o[0] == 0 || a.is_broadcast() || a.is_multicast() || o[0] >= 240 {
        return (Some("not a unicast address"), None);
    }
    let private = if a.is_loopback() {
        Some("a loopback address")
    } else if a.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) || (o[0] == 198 && (o[1] & 0xfe) == 18) {
        Some("a private address")
    } else if o[0] == 192 && o[1] == 0 && (o[2] == 0 || o[2] == 2)
        || (o[0] == 198 && o[1] == 51)
        || o[0] == 203 && o[1] == 0 && o[2] == 113
    {
        Some("a reserved address")
    } else {
        None
    };
    (None, private)
}

fn classify_v6(a: Ipv6Addr) -> (Option<&'static str>, Option<&'static str>) {
    let s = a.segments();
    if a == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) || (s[0] & 0xffc0) == 0xfe80 {
        return (Some("a link-local or cloud metadata address"), None);
    }
    if a.is_unspecified() || a.is_multicast() {
        return (Some("not a unicast address"), None);
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address: judge that one.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return classify_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
    }
    if s[0] == 0x2002 {
        return classify_v4(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    let private = if a.is_loopback() {
        Some("a loopback address")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Some("a private address")
    } else {
        None
    };
    (None, private)
}

/// Checks a URL before it is requested (and each redirect's target): the scheme, and the
/// host when it is an address (names are checked when resolved).
pub(super) fn check_url(url: &reqwest::Url, policy: NetPolicy) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        "http" => return Err(format!("{}: plain http:// is refused; use https://", shown(url))),
        other => return Err(format!("{}: the scheme {other}:// is not fetched; use https://", shown(url))),
    }
    match url.host() {
        None => Err(format!("{}: no host", shown(url))),
        Some(url::Host::Ipv4(a)) => refused(IpAddr::V4(a), policy)
            .map_or(Ok(()), |why| Err(format!("{}: {a} is {why}, which remote fetches may not reach", shown(url)))),
        Some(url::Host::Ipv6(a)) => refused(IpAddr::V6(a), policy)
            .map_or(Ok(()), |why| Err(format!("{}: {a} is {why}, which remote fetches may not reach", shown(url)))),
        Some(url::Host::Domain(_)) => Ok(()),
    }
}

/// A URL as errors show it: no credentials, no query (it may hold a signature).
pub(super) fn shown(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// Resolves host names for the HTTP client and drops the addresses the policy refuses, so
/// the check is on the addresses actually connected to (a name cannot resolve to a public
/// address when checked and a private one when connected).
pub(super) struct Resolver(pub(super) NetPolicy);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut why = None;
            let ok: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| match refused(a.ip(), policy) {
                    Some(w) => {
                        why.get_or_insert((a.ip(), w));
                        false
                    }
                    None => true,
                })
                .collect();
            if ok.is_empty() {
                let msg = match why {
                    Some((ip, w)) => format!("{host} resolves to {ip}, {w}, which remote fetches may not reach"),
                    None => format!("{host} has no address"),
                };
                return Err(Box::new(Refusal(msg)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The resolver's refusal, found again in the client's error chain.
#[derive(Debug)]
pub(super) struct Refusal(pub(super) String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// One runtime for every remote fetch of the process: two threads drive the sockets; the
/// fetcher's threads wait on it.
pub(super) fn runtime() -> Result<Arc<tokio::runtime::Runtime>, String> {
    static RT: std::sync::OnceLock<Result<Arc<tokio::runtime::Runtime>, String>> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("reel-fetch")
            .enable_all()
            .build()
            .map(Arc::new)
            .map_err(|e| format!("starting the fetch runtime: {e}"))
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_refused() {
        let strict = NetPolicy::default();
        let open = NetPolicy { allow_private: true };
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "::1",
            "fd12::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(refused(ip, strict).is_some(), "{a}");
            assert!(refused(ip, open).is_none(), "{a}");
        }
        for a in [
            "169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "100.100.100.200",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(refused(ip, open).is_some(), "{a}");
        }
        for a in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] {
            assert!(refused(a.parse().unwrap(), strict).is_none(), "{a}");
        }
    }
}
