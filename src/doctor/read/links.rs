//! Reads links, addresses, routes (every table) and policy rules of the
//! current network namespace over rtnetlink.

use std::net::{IpAddr, Ipv4Addr};

use futures::{TryStream, TryStreamExt};
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::packet_route::rule::{RuleAttribute, RuleMessage};
use rtnetlink::{Handle, RouteMessageBuilder};

use super::ReadError;
use crate::net::observe::{link_summary, LinkSummary};

/// A link as doctor needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Index, name, MAC, MTU, loopback.
    pub summary: LinkSummary,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Carrier (`IFF_LOWER_UP`; a tap has it while a process holds it).
    pub lower_up: bool,
    /// A tun/tap device.
    pub tun: bool,
}

/// An address on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    /// Link index.
    pub index: u32,
    /// The address.
    pub ip: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

/// An IPv4 route of any table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Routing table.
    pub table: u32,
    /// Destination (`None`: default route).
    pub destination: Option<Ipv4Addr>,
    /// Destination prefix length.
    pub prefix: u8,
    /// Output interface.
    pub oif: Option<u32>,
    /// Gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Preferred source.
    pub source: Option<Ipv4Addr>,
}

/// An IPv4 policy rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Priority.
    pub priority: u32,
    /// Table looked up.
    pub table: u32,
    /// Firewall mark.
    pub fwmark: Option<u32>,
    /// Firewall mark mask.
    pub fwmask: Option<u32>,
    /// Input interface.
    pub iif: Option<String>,
    /// Destination host (a /32 selector).
    pub to: Option<Ipv4Addr>,
}

/// Collects a netlink dump of `what`.
pub async fn dump<T>(
    stream: impl TryStream<Ok = T, Error = rtnetlink::Error>,
    what: &'static str,
) -> Result<Vec<T>, ReadError> {
    stream.try_collect().await.map_err(|e| ReadError::Netlink {
        what,
        message: e.to_string(),
    })
}

/// Every link.
pub async fn links(handle: &Handle) -> Result<Vec<Link>, ReadError> {
    let messages = dump(handle.link().get().execute(), "links").await?;
    Ok(messages.iter().map(link).collect())
}

fn link(m: &LinkMessage) -> Link {
    let flags = m.header.flags;
    let tun = m.attributes.iter().any(|a| {
        matches!(a, LinkAttribute::LinkInfo(infos) if infos.contains(&LinkInfo::Kind(InfoKind::Tun)))
    });
    Link {
        summary: link_summary(m),
        up: flags.contains(LinkFlags::Up),
        lower_up: flags.contains(LinkFlags::LowerUp),
        tun,
    }
}

/// Every address (IPv4 and IPv6).
pub async fn addresses(handle: &Handle) -> Result<Vec<Address>, ReadError> {
    let messages = dump(handle.address().get().execute(), "addresses").await?;
    Ok(messages
        .into_iter()
        .filter_map(|m| {
            let ip = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let ip = ip.or_else(|| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            })?;
            Some(Address {
                index: m.header.index,
                ip,
                prefix: m.header.prefix_len,
            })
        })
        .collect())
}

/// Every IPv4 route of every table.
pub async fn routes(handle: &Handle) -> Result<Vec<Route>, ReadError> {
    let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let messages = dump(handle.route().get(query).execute(), "routes").await?;
    Ok(messages.into_iter().map(route).collect())
}

fn route(m: RouteMessage) -> Route {
    let mut r = Route {
        table: u32::from(m.header.table),
        destination: None,
        prefix: m.header.destination_prefix_length,
        oif: None,
        gateway: None,
        source: None,
    };
    for attr in m.attributes {
        match attr {
            RouteAttribute::Table(t) => r.table = t,
            RouteAttribute::Destination(RouteAddress::Inet(d)) => r.destination = Some(d),
            RouteAttribute::Oif(i) => r.oif = Some(i),
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => r.gateway = Some(g),
            RouteAttribute::PrefSource(RouteAddress::Inet(s)) => r.source = Some(s),
            _ => {}
        }
    }
    r
}

/// Every IPv4 policy rule.
pub async fn rules(handle: &Handle) -> Result<Vec<Rule>, ReadError> {
    let messages = dump(
        handle.rule().get(rtnetlink::IpVersion::V4).execute(),
        "rules",
    )
    .await?;
    Ok(messages.into_iter().map(rule).collect())
}

fn rule(m: RuleMessage) -> Rule {
    let mut r = Rule {
        priority: 0,
        table: u32::from(m.header.table),
        fwmark: None,
        fwmask: None,
        iif: None,
        to: None,
    };
    for attr in m.attributes {
        match attr {
            RuleAttribute::Priority(p) => r.priority = p,
            RuleAttribute::Table(t) => r.table = t,
            RuleAttribute::FwMark(mark) => r.fwmark = Some(mark),
            RuleAttribute::FwMask(mask) => r.fwmask = Some(mask),
            RuleAttribute::Iifname(name) => r.iif = Some(name),
            RuleAttribute::Destination(IpAddr::V4(to)) if m.header.dst_len == 32 => r.to = Some(to),
            _ => {}
        }
    }
    r
}
