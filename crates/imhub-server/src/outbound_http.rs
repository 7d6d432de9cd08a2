//! The one HTTP client for URLs a tenant chose: the custom channel's
//! `outbound_url`, outgoing webhooks, and alert robots.
//!
//! A workspace admin can name any URL, so every request is guarded here, in
//! one place: the host is resolved and every address it resolves to must be
//! public (loopback, private, shared, link-local, metadata, multicast,
//! broadcast, reserved, and the IPv6 forms that embed such an IPv4 address
//! are refused); the connection goes to exactly the addresses that were
//! checked (the client's own resolver checks them, so there is no second
//! lookup for DNS rebinding to switch); redirects are never followed; the
//! answer is read up to a cap; the operator's timeouts cap any timeout a
//! channel asks for. Addresses in the operator's `outbound.allow_cidrs` are
//! allowed anyway (on-premise receivers, the tests, the sandbox, the demo).
//!
//! Errors carry a short reason of our own, never the remote body and never
//! the URL (whose query may hold a secret), because tenants read them.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use reqwest::{
    StatusCode, Url,
    dns::{Addrs, Name, Resolve, Resolving},
    header::HeaderMap,
};

use crate::config::OutboundConfig;

/// Longest delay a receiver may ask for with `Retry-After`: a receiver
/// cannot park a conversation for longer than this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// One network range, `addr/prefix`, of the operator's allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// Why an `allow_cidrs` entry cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbound.allow_cidrs: {entry:?} is not an address or address/prefix")]
pub struct CidrError {
    pub entry: String,
}

impl std::str::FromStr for Cidr {
    type Err = CidrError;

    /// `10.0.0.0/8`, `fd00::/8`, or a single address (`/32` or `/128`).
    fn from_str(text: &str) -> Result<Self, CidrError> {
        let bad = || CidrError {
            entry: text.to_string(),
        };
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { net, prefix })
    }
}

impl Cidr {
    /// Whether `ip` lies in this range. An IPv4 range also holds the
    /// IPv4-mapped IPv6 forms of its addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)),
                u128::from(u32::from(ip)),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(net),
                u128::from(ip.to_ipv6_mapped()),
                128,
                self.prefix,
            ),
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

/// Whether the first `prefix` of `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: u128, b: u128, bits: u8, prefix: u8) -> bool {
    let drop = u32::from(bits.saturating_sub(prefix));
    a.checked_shr(drop).unwrap_or(0) == b.checked_shr(drop).unwrap_or(0)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is; anything else
/// unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why an address is not a public one, or `None` when it is.
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "a cloud metadata address",
        _ if ip.is_broadcast() => "the broadcast address",
        (0, _, _) => "in 0.0.0.0/8 (this network)",
        (127, _, _) => "a loopback address",
        (10, _, _) => "a private address (RFC 1918)",
        (172, 16..=31, _) => "a private address (RFC 1918)",
        (192, 168, _) => "a private address (RFC 1918)",
        (100, 64..=127, _) => "a shared address (100.64.0.0/10)",
        (169, 254, _) => "a link-local address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved address (240.0.0.0/4)",
        (192, 0, 0) => "an IETF protocol address (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking address (198.18.0.0/15)",
        _ => return None,
    })
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    let bits = u128::from(ip);
    // Forms that carry an IPv4 address are judged by that address, so that
    // `::ffff:127.0.0.1` is as loopback as `127.0.0.1`.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and the NAT64 prefix
    // 64:ff9b::/96 both end in an IPv4 address.
    if bits >> 32 == 0 || bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return v4_reason(Ipv4Addr::from((bits & 0xffff_ffff) as u32)).or(if bits >> 32 == 0 {
            Some("an IPv4-compatible address")
        } else {
            None
        });
    }
    // 6to4 (2002::/16) embeds an IPv4 address in bits 16..48.
    if segments[0] == 0x2002 {
        let v4 = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return v4_reason(v4);
    }
    Some(match segments[0] {
        s if s & 0xfe00 == 0xfc00 => "a unique local address (fc00::/7)",
        s if s & 0xffc0 == 0xfe80 => "a link-local address",
        s if s & 0xffc0 == 0xfec0 => "a site-local address",
        s if s & 0xff00 == 0xff00 => "a multicast address",
        0x0064 if segments[1] == 0xff9b => "a local-use NAT64 address",
        0x0100 if segments[1..4] == [0, 0, 0] => "a discard address (100::/64)",
        0x2001 if segments[1] == 0x0db8 => "a documentation address",
        // Teredo hides an IPv4 address (obfuscated) that cannot be judged.
        0x2001 if segments[1] == 0 => "a Teredo address",
        _ => return None,
    })
}

/// Which addresses may be reached: public ones, and the operator's ranges.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allow: Vec<Cidr>,
}

impl TargetPolicy {
    /// A policy allowing the operator's ranges besides public addresses.
    pub fn new(allow_cidrs: &[String]) -> Result<Self, CidrError> {
        let allow = allow_cidrs
            .iter()
            .map(|c| c.parse())
            .collect::<Result<_, _>>()?;
        Ok(TargetPolicy { allow })
    }

    /// Refuses an address that is not public, unless the operator allowed it.
    pub fn judge(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.allow.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        match non_public_reason(ip) {
            Some(reason) => Err(Refused {
                address: canonical(ip),
                reason,
            }),
            None => Ok(()),
        }
    }
}

/// An address the policy refused, and why. Also travels through reqwest
/// (as the resolver's error) so that the refusal keeps its reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address} is {reason}")]
pub struct Refused {
    pub address: IpAddr,
    pub reason: &'static str,
}

/// Why a guarded request did not get an answer. The texts are ours: safe
/// to show a tenant and to store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Not an absolute http(s) URL with a host.
    #[error("the URL is not usable: {0}")]
    InvalidUrl(String),
    /// The host is, or resolves to, an address that may not be reached.
    #[error("the target is not allowed: {0}")]
    NotAllowed(Refused),
    /// The host name did not resolve.
    #[error("the host name does not resolve")]
    Unresolved,
    /// No answer within the time allowed.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection could not be made or broke.
    #[error("the connection failed: {0}")]
    Connect(String),
    /// Anything else before an answer arrived.
    #[error("the request failed: {0}")]
    Request(String),
}

impl GuardError {
    /// The stable code for the API and stored errors.
    pub fn code(&self) -> &'static str {
        match self {
            GuardError::InvalidUrl(_) => "invalid_url",
            GuardError::NotAllowed(_) => "target_not_allowed",
            GuardError::Unresolved => "unresolved",
            GuardError::Timeout(_) => "timeout",
            GuardError::Connect(_) => "connect_failed",
            GuardError::Request(_) => "request_failed",
        }
    }

    /// Whether trying again later may succeed. A refused or malformed
    /// target fails for good.
    pub fn is_permanent(&self) -> bool {
        matches!(self, GuardError::InvalidUrl(_) | GuardError::NotAllowed(_))
    }
}

/// What a receiver answered: status, headers and at most the capped number
/// of body bytes.
#[derive(Debug, Clone)]
pub struct GuardedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The receiver sent more than the cap; `body` holds the first part.
    pub truncated: bool,
}

impl GuardedResponse {
    /// The receiver's `Retry-After` (seconds or an HTTP date), capped at
    /// [`MAX_RETRY_AFTER`]; `None` when absent or unreadable.
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get("retry-after")?.to_str().ok()?;
        parse_retry_after(value, time::OffsetDateTime::now_utc())
    }
}

/// `Retry-After` as a delay, capped at [`MAX_RETRY_AFTER`], without any
/// arithmetic that can overflow: delta-seconds of any size, or an HTTP
/// date (`Sun, 06 Nov 1994 08:49:37 GMT`) measured from `now`.
pub fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for u64 is still "very long": cap it.
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822)
            .ok()?;
        let secs = (at - now).whole_seconds();
        Duration::from_secs(u64::try_from(secs).unwrap_or(0))
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// The resolver inside the guarded client: looks the name up and hands
/// reqwest only addresses the policy allows, so the checked address is the
/// one connected to.
struct GuardResolver {
    policy: Arc<TargetPolicy>,
}

impl Resolve for GuardResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let addrs = resolve_checked(&policy, name.as_str()).await?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Why the resolver gave no address: a refusal, or the name not resolving.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error(transparent)]
    Refused(Refused),
    #[error("the host name does not resolve")]
    Unresolved,
}

async fn resolve_checked(
    policy: &TargetPolicy,
    host: &str,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| ResolveError::Unresolved)?
        .collect();
    if addrs.is_empty() {
        return Err(ResolveError::Unresolved);
    }
    // Only allowed addresses are handed on, so only they are connected to;
    // a name answering nothing allowed is refused with the first reason
    // (`localhost` answering ::1 and 127.0.0.1 reaches 127.0.0.1 when the
    // operator allowed 127.0.0.0/8 only).
    let mut refused = None;
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|addr| match policy.judge(addr.ip()) {
            Ok(()) => true,
            Err(r) => {
                refused.get_or_insert(r);
                false
            }
        })
        .collect();
    match refused {
        Some(r) if allowed.is_empty() => Err(ResolveError::Refused(r)),
        _ => Ok(allowed),
    }
}

/// The guarded client. Cheap to clone; build one per server.
#[derive(Clone)]
pub struct GuardedClient {
    http: reqwest::Client,
    policy: Arc<TargetPolicy>,
    max_timeout: Duration,
    max_response_bytes: usize,
}

impl fmt::Debug for GuardedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedClient")
            .field("policy", &self.policy)
            .field("max_timeout", &self.max_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// Why the guarded client cannot be built from the operator's settings.
#[derive(Debug, thiserror::Error)]
pub enum GuardConfigError {
    #[error(transparent)]
    Cidr(#[from] CidrError),
    #[error("cannot build the outbound HTTP client: {0}")]
    Client(String),
}

impl GuardedClient {
    /// The client for the operator's `[outbound]` settings.
    pub fn new(config: &OutboundConfig) -> Result<Self, GuardConfigError> {
        let policy = Arc::new(TargetPolicy::new(&config.allow_cidrs)?);
        let max_timeout = Duration::from_millis(config.max_timeout_ms.max(1));
        let connect_timeout = Duration::from_millis(config.connect_timeout_ms.max(1));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve and connect on its own, around the guard.
            .no_proxy()
            .dns_resolver(Arc::new(GuardResolver {
                policy: Arc::clone(&policy),
            }))
            .connect_timeout(connect_timeout.min(max_timeout))
            .timeout(max_timeout)
            // As many kept-alive connections as the delivery engine has sends in
            // flight by default: reopening one per send would halve its rate.
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| GuardConfigError::Client(e.to_string()))?;
        Ok(GuardedClient {
            http,
            policy,
            max_timeout,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// The client with the default settings plus `allow_cidrs`; for tests.
    pub fn allowing(allow_cidrs: &[&str]) -> Result<Self, GuardConfigError> {
        GuardedClient::new(&OutboundConfig {
            allow_cidrs: allow_cidrs.iter().map(|c| c.to_string()).collect(),
            ..OutboundConfig::default()
        })
    }

    /// Most bytes read from any answer (the operator's
    /// `outbound.max_response_bytes`); platform clients are capped by it too.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// The total time a request may take: `wanted`, but never more than the
    /// operator's cap.
    pub fn timeout(&self, wanted: Option<Duration>) -> Duration {
        wanted.map_or(self.max_timeout, |w| w.min(self.max_timeout))
    }

    /// Checks a URL when it is saved: http(s), with a host that is not, and
    /// does not now resolve to, a refused address. A name that does not
    /// resolve now is accepted (DNS can be down); every request checks again.
    pub async fn check_url(&self, url: &str) -> Result<Url, GuardError> {
        let (parsed, host) = self.parse(url)?;
        if let Host::Name(name) = host {
            match resolve_checked(&self.policy, &name).await {
                Ok(_) | Err(ResolveError::Unresolved) => {}
                Err(ResolveError::Refused(r)) => return Err(GuardError::NotAllowed(r)),
            }
        }
        Ok(parsed)
    }

    /// POSTs `body` with `headers` to a tenant's URL, within the operator's
    /// caps. Any status is an answer (a 3xx too: redirects are not followed).
    pub async fn post(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<GuardedResponse, GuardError> {
        self.post_within(url, headers, body, None).await
    }

    /// [`GuardedClient::post`] with the caller's own timeout, capped by the
    /// operator's.
    pub async fn post_within(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<GuardedResponse, GuardError> {
        let (parsed, _) = self.parse(url)?;
        let timeout = self.timeout(timeout);
        let mut response = self
            .http
            .post(parsed)
            .headers(headers)
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| classify(&e, timeout))?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = self.max_response_bytes.saturating_sub(body.len());
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        // Dropping the response closes the connection: an
                        // endless body is not read on.
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // The status arrived: a body cut short (or too slow) still
                // leaves an answer, with the part that came.
                Err(_) => {
                    truncated = true;
                    break;
                }
            }
        }
        Ok(GuardedResponse {
            status,
            headers,
            body: Bytes::from(body),
            truncated,
        })
    }

    /// Parses and judges what can be judged without the network: scheme,
    /// host, and an IP literal host (which reqwest connects to without
    /// asking the resolver). The `url` crate reads `2130706433`,
    /// `0x7f000001` and `0177.0.0.1` as the IPv4 address they mean.
    fn parse(&self, url: &str) -> Result<(Url, Host), GuardError> {
        let (parsed, host) = parse_url(url)?;
        if let Host::Ip(ip) = host {
            self.policy.judge(ip).map_err(GuardError::NotAllowed)?;
        }
        Ok((parsed, host))
    }
}

/// Checks only the form of a URL a tenant names (absolute http(s), a host,
/// no credentials), without judging its address; for configuration read
/// back from the store, whose targets are judged at every request.
pub fn check_syntax(url: &str) -> Result<Url, GuardError> {
    parse_url(url).map(|(parsed, _)| parsed)
}

fn parse_url(url: &str) -> Result<(Url, Host), GuardError> {
    {
        let parsed = Url::parse(url.trim())
            .map_err(|e| GuardError::InvalidUrl(format!("not an absolute URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(GuardError::InvalidUrl(
                "the scheme must be http or https".into(),
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(GuardError::InvalidUrl(
                "credentials in the URL are not accepted; use the signing secret".into(),
            ));
        }
        // The URL parser has already normalised an IP host (brackets around
        // IPv6, every IPv4 spelling to dotted decimal).
        let host = match parsed.host_str() {
            Some(text) => {
                let bare = text.trim_start_matches('[').trim_end_matches(']');
                match bare.parse::<IpAddr>() {
                    Ok(ip) => Host::Ip(ip),
                    Err(_) => Host::Name(text.trim_end_matches('.').to_string()),
                }
            }
            None => return Err(GuardError::InvalidUrl("the URL has no host".into())),
        };
        Ok((parsed, host))
    }
}

enum Host {
    Ip(IpAddr),
    Name(String),
}

/// reqwest's error as one of ours, without its text (which names the URL).
fn classify(e: &reqwest::Error, timeout: Duration) -> GuardError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut io_kind = None;
    while let Some(err) = source {
        if let Some(resolve) = err.downcast_ref::<ResolveError>() {
            return match resolve {
                ResolveError::Refused(r) => GuardError::NotAllowed(r.clone()),
                ResolveError::Unresolved => GuardError::Unresolved,
            };
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        source = err.source();
    }
    if e.is_timeout() {
        return GuardError::Timeout(timeout);
    }
    let why = io_kind.map_or_else(|| "no answer".to_string(), |k| k.to_string());
    if e.is_connect() {
        GuardError::Connect(why)
    } else {
        GuardError::Request(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn every_non_public_range_is_refused() {
        for bad in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "169.254.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(
                non_public_reason(ip(bad)).is_some(),
                "{bad} must be refused"
            );
        }
    }

    #[test]
    fn public_addresses_pass() {
        for good in [
            "1.1.1.1",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert_eq!(non_public_reason(ip(good)), None, "{good} is public");
        }
    }

    #[test]
    fn metadata_address_says_so() {
        assert_eq!(
            non_public_reason(ip("169.254.169.254")),
            Some("a cloud metadata address")
        );
    }

    #[test]
    fn allow_list_lets_the_operators_ranges_through_in_both_spellings() {
        let policy = TargetPolicy::new(&["127.0.0.0/8".into(), "fd00::/8".into()]).unwrap();
        assert!(policy.judge(ip("127.0.0.1")).is_ok());
        assert!(policy.judge(ip("::ffff:127.0.0.1")).is_ok());
        assert!(policy.judge(ip("fd00::5")).is_ok());
        assert!(
            policy.judge(ip("::1")).is_err(),
            "::1 is not in 127.0.0.0/8"
        );
        assert!(policy.judge(ip("10.0.0.1")).is_err());
        let refused = policy.judge(ip("169.254.169.254")).unwrap_err();
        assert_eq!(refused.reason, "a cloud metadata address");
    }

    #[test]
    fn cidr_entries_are_parsed_strictly() {
        assert!("10.0.0.0/8".parse::<Cidr>().is_ok());
        assert!("10.0.0.1".parse::<Cidr>().is_ok());
        assert!("::1/128".parse::<Cidr>().is_ok());
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "localhost",
            "10.0.0.0/x",
            "",
            "10.0.0/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        assert!(TargetPolicy::new(&["nope".into()]).is_err());
    }

    #[test]
    fn retry_after_is_capped_and_cannot_overflow() {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        let later = now + time::Duration::days(1);
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", later),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
    }

    async fn refused_at_check(url: &str) -> GuardError {
        let client = GuardedClient::new(&OutboundConfig::default()).unwrap();
        client.check_url(url).await.unwrap_err()
    }

    #[tokio::test]
    async fn every_spelling_of_a_refused_host_is_refused_when_saved() {
        for url in [
            "http://127.0.0.1/hook",
            "http://localhost:8080/hook",
            "http://2130706433/hook",
            "http://0x7f000001/hook",
            "http://0177.0.0.1/hook",
            "http://127.1/hook",
            "http://[::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/hook",
            "https://0.0.0.0/hook",
            "http://127.0.0.1./hook",
        ] {
            let err = refused_at_check(url).await;
            assert_eq!(err.code(), "target_not_allowed", "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn malformed_urls_are_refused_and_unresolvable_names_accepted() {
        for url in [
            "ftp://example.com/",
            "not a url",
            "http://user:pw@example.com/",
            "/relative",
        ] {
            assert_eq!(refused_at_check(url).await.code(), "invalid_url", "{url}");
        }
        let client = GuardedClient::new(&OutboundConfig::default()).unwrap();
        assert!(
            client
                .check_url("https://no-such-host.invalid/hook")
                .await
                .is_ok(),
            "DNS can be down when a URL is saved"
        );
    }

    #[tokio::test]
    async fn a_refused_address_is_refused_at_send_too_naming_no_url() {
        let client = GuardedClient::new(&OutboundConfig::default()).unwrap();
        for url in [
            "http://localhost:1/x?token=SECRET",
            "http://127.0.0.1:1/x?token=SECRET",
        ] {
            let err = client
                .post(url, HeaderMap::new(), b"{}".to_vec())
                .await
                .unwrap_err();
            assert_eq!(err.code(), "target_not_allowed", "{url}: {err}");
            assert!(!err.to_string().contains("SECRET"), "{err}");
        }
    }

    #[test]
    fn a_channel_cannot_ask_for_more_time_than_the_operator_allows() {
        let client = GuardedClient::new(&OutboundConfig {
            max_timeout_ms: 2_000,
            ..OutboundConfig::default()
        })
        .unwrap();
        assert_eq!(client.timeout(None), Duration::from_secs(2));
        assert_eq!(
            client.timeout(Some(Duration::from_secs(3600))),
            Duration::from_secs(2)
        );
        assert_eq!(
            client.timeout(Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
    }

    /// A receiver on loopback that answers every connection with `answer`
    /// (raw HTTP); returns its URL and a count of the connections it took.
    async fn receiver(
        answer: &'static [u8],
        endless: bool,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&hits);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    if answer.is_empty() {
                        // Never answers.
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    let _ = socket.write_all(answer).await;
                    if endless {
                        let chunk: Vec<u8> = b"4000\r\n"
                            .iter()
                            .copied()
                            .chain([b'x'; 0x4000])
                            .chain(*b"\r\n")
                            .collect();
                        while socket.write_all(&chunk).await.is_ok() {}
                    }
                });
            }
        });
        (format!("http://{addr}/hook?token=SECRET"), hits)
    }

    fn loopback_allowed(max_timeout_ms: u64) -> GuardedClient {
        GuardedClient::new(&OutboundConfig {
            allow_cidrs: vec!["127.0.0.0/8".into()],
            max_timeout_ms,
            ..OutboundConfig::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn an_allowed_receiver_answers_through_the_guard() {
        let (url, hits) = receiver(
            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"id\":\"r1\"}",
            false,
        )
        .await;
        let answer = loopback_allowed(5_000)
            .post(&url, HeaderMap::new(), b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(&answer.body[..], br#"{"id":"r1"}"#);
        assert!(!answer.truncated);
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        // A name is judged by what it resolves to: `localhost` may answer
        // ::1 too, which is not allowed, and 127.0.0.1 is used.
        let by_name = url.replace("127.0.0.1", "localhost");
        let answer = loopback_allowed(5_000)
            .post(&by_name, HeaderMap::new(), b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_redirect_is_an_answer_and_is_never_followed() {
        // The redirect names another receiver that the guard would allow,
        // so only not following it keeps it from being hit; and one naming
        // the metadata address.
        let (target, target_hits) =
            receiver(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", false).await;
        let location: &'static str = Box::leak(
            format!("HTTP/1.1 302 Found\r\nlocation: {target}\r\ncontent-length: 0\r\n\r\n")
                .into_boxed_str(),
        );
        let (url, _) = receiver(location.as_bytes(), false).await;
        let client = loopback_allowed(5_000);
        let answer = client
            .post(&url, HeaderMap::new(), b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::FOUND);
        assert_eq!(target_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
        let (metadata, _) = receiver(
            b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://169.254.169.254/latest/meta-data/\r\ncontent-length: 0\r\n\r\n",
            false,
        )
        .await;
        let answer = client
            .post(&metadata, HeaderMap::new(), b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::TEMPORARY_REDIRECT);
    }

    #[tokio::test]
    async fn an_endless_body_is_read_up_to_the_cap_only() {
        let (url, _) = receiver(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            true,
        )
        .await;
        let started = std::time::Instant::now();
        let answer = loopback_allowed(10_000)
            .post(&url, HeaderMap::new(), b"{}".to_vec())
            .await
            .unwrap();
        assert!(answer.truncated);
        assert_eq!(
            answer.body.len(),
            OutboundConfig::default().max_response_bytes
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_times_out_at_the_operators_cap() {
        let (url, _) = receiver(b"", false).await;
        let started = std::time::Instant::now();
        let err = loopback_allowed(300)
            .post_within(
                &url,
                HeaderMap::new(),
                b"{}".to_vec(),
                Some(Duration::from_secs(3600)),
            )
            .await
            .unwrap_err();
        assert_eq!(err, GuardError::Timeout(Duration::from_millis(300)));
        assert!(!err.is_permanent());
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(!err.to_string().contains("SECRET"));
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_failure_without_the_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = loopback_allowed(2_000)
            .post(
                &format!("http://127.0.0.1:{port}/x?token=SECRET"),
                HeaderMap::new(),
                vec![],
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "connect_failed", "{err}");
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(!err.to_string().contains("127.0.0.1"), "{err}");
    }
}
