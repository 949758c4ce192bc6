//! Reads the pod netns: finds the pod interface (the default route's, else
//! the only non-loopback one; never assumed to be `eth0`) and its address,
//! gateway, MAC and MTU.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{Handle, RouteMessageBuilder};

use super::ifname::{IfName, IfNameError};
use super::PodInterface;

/// A link as listed in the pod netns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSummary {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Hardware address, when it has a 6-byte one.
    pub mac: Option<[u8; 6]>,
    /// MTU.
    pub mtu: u32,
    /// Whether it is a loopback interface.
    pub loopback: bool,
}

/// The IPv4 default route, as far as the plan needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultRoute {
    /// Output interface index.
    pub oif: Option<u32>,
    /// Gateway.
    pub gateway: Option<Ipv4Addr>,
}

/// Why the pod network could not be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ObserveError {
    /// Only loopback exists.
    #[error(
        "the pod network namespace has no interface besides loopback: did the CNI plugin run?"
    )]
    NoInterface,
    /// Several candidates and no default route.
    #[error("the pod network namespace has several interfaces ({0}) and no default route: cannot tell which one is the pod interface")]
    Ambiguous(String),
    /// The default route's interface is not listed.
    #[error("the default route uses interface index {0}, which does not exist")]
    MissingOif(u32),
    /// No IPv4 address on the pod interface.
    #[error("pod interface {0} has no IPv4 address")]
    NoIpv4(String),
    /// No 6-byte MAC on the pod interface.
    #[error("pod interface {0} has no Ethernet address")]
    NoMac(String),
    /// The pod interface's name could not be written safely.
    #[error("pod {0}")]
    Name(#[from] IfNameError),
    /// Netlink failed.
    #[error("netlink: {0}")]
    Netlink(String),
}

/// Picks the pod interface: the default route's, else the only non-loopback.
pub fn select_interface(
    links: &[LinkSummary],
    default: Option<DefaultRoute>,
) -> Result<&LinkSummary, ObserveError> {
    if let Some(oif) = default.and_then(|d| d.oif) {
        return links
            .iter()
            .find(|l| l.index == oif)
            .ok_or(ObserveError::MissingOif(oif));
    }
    let candidates: Vec<&LinkSummary> = links.iter().filter(|l| !l.loopback).collect();
    match candidates.as_slice() {
        [] => Err(ObserveError::NoInterface),
        [one] => Ok(one),
        many => Err(ObserveError::Ambiguous(
            many.iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// Observes the pod interface in the current network namespace.
pub async fn observe(handle: &Handle) -> Result<PodInterface, ObserveError> {
    let links = list_links(handle).await?;
    let default = default_route(handle).await?;
    let link = select_interface(&links, default)?;
    let (ipv4, prefix) = first_ipv4(handle, link.index)
        .await?
        .ok_or_else(|| ObserveError::NoIpv4(link.name.clone()))?;
    let mac = link
        .mac
        .ok_or_else(|| ObserveError::NoMac(link.name.clone()))?;
    Ok(PodInterface {
        name: IfName::new(link.name.as_str())?,
        index: link.index,
        mac,
        mtu: link.mtu,
        ipv4,
        prefix,
        gateway: default.and_then(|d| d.gateway),
    })
}

fn netlink_err(e: rtnetlink::Error) -> ObserveError {
    ObserveError::Netlink(e.to_string())
}

/// Lists the links of the current netns.
pub async fn list_links(handle: &Handle) -> Result<Vec<LinkSummary>, ObserveError> {
    let messages: Vec<_> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(netlink_err)?;
    Ok(messages.iter().map(link_summary).collect())
}

/// The summary of one link message.
pub fn link_summary(m: &LinkMessage) -> LinkSummary {
    let mut summary = LinkSummary {
        index: m.header.index,
        name: String::new(),
        mac: None,
        mtu: 0,
        loopback: m.header.flags.contains(LinkFlags::Loopback),
    };
    for attr in &m.attributes {
        match attr {
            LinkAttribute::IfName(n) => summary.name = n.clone(),
            LinkAttribute::Address(a) => summary.mac = a.as_slice().try_into().ok(),
            LinkAttribute::Mtu(mtu) => summary.mtu = *mtu,
            _ => {}
        }
    }
    summary
}

/// The IPv4 default route of the main table, if any.
async fn default_route(handle: &Handle) -> Result<Option<DefaultRoute>, ObserveError> {
    let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let routes: Vec<_> = handle
        .route()
        .get(query)
        .execute()
        .try_collect()
        .await
        .map_err(netlink_err)?;
    Ok(routes
        .into_iter()
        .filter(|r| r.header.destination_prefix_length == 0)
        .find(|r| {
            let table = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Table(t) => Some(*t),
                _ => None,
            });
            table.unwrap_or(u32::from(r.header.table)) == 254
        })
        .map(|r| {
            let mut d = DefaultRoute {
                oif: None,
                gateway: None,
            };
            for attr in r.attributes {
                match attr {
                    RouteAttribute::Oif(i) => d.oif = Some(i),
                    RouteAttribute::Gateway(RouteAddress::Inet(g)) => d.gateway = Some(g),
                    _ => {}
                }
            }
            d
        }))
}

/// The first IPv4 address on interface `index`.
async fn first_ipv4(handle: &Handle, index: u32) -> Result<Option<(Ipv4Addr, u8)>, ObserveError> {
    let addrs: Vec<_> = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await
        .map_err(netlink_err)?;
    Ok(addrs.into_iter().find_map(|m| {
        let prefix = m.header.prefix_len;
        let local = m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
            _ => None,
        });
        let address = m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
            _ => None,
        });
        local.or(address).map(|ip| (ip, prefix))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_pod_interface_name_is_a_clear_error() {
        let e = ObserveError::from(IfName::new("e\" accept").unwrap_err());
        assert_eq!(
            e.to_string(),
            "pod interface name \"e\\\" accept\" is refused: only ASCII letters, digits and -_.@+=%#~ are accepted"
        );
    }

    fn link(index: u32, name: &str, loopback: bool) -> LinkSummary {
        LinkSummary {
            index,
            name: name.into(),
            mac: Some([2, 0, 0, 0, 0, index as u8]),
            mtu: 1500,
            loopback,
        }
    }

    #[test]
    fn default_route_interface_wins() {
        let links = [
            link(1, "lo", true),
            link(2, "a", false),
            link(3, "b", false),
        ];
        let d = DefaultRoute {
            oif: Some(3),
            gateway: None,
        };
        assert_eq!(select_interface(&links, Some(d)).unwrap().name, "b");
        let d = DefaultRoute {
            oif: Some(9),
            gateway: None,
        };
        assert_eq!(
            select_interface(&links, Some(d)),
            Err(ObserveError::MissingOif(9))
        );
    }

    #[test]
    fn only_non_loopback_is_the_fallback() {
        let links = [link(1, "lo", true), link(5, "pod0", false)];
        assert_eq!(select_interface(&links, None).unwrap().name, "pod0");
    }

    #[test]
    fn none_or_several_without_default_route_are_errors() {
        assert_eq!(
            select_interface(&[link(1, "lo", true)], None),
            Err(ObserveError::NoInterface)
        );
        let links = [
            link(1, "lo", true),
            link(2, "a", false),
            link(3, "b", false),
        ];
        let e = select_interface(&links, None).unwrap_err();
        assert_eq!(e, ObserveError::Ambiguous("a, b".into()));
        assert!(e.to_string().contains("no default route"));
    }
}
