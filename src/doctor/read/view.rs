//! The pod netns's network objects as read, and the pod interface found
//! among them the way `create` finds it.

use std::net::{IpAddr, Ipv4Addr};

use super::links::{Address, Link, Route, Rule};
use super::tc::IngressFilter;
use crate::net::ifname::IfName;
use crate::net::observe::{select_interface, DefaultRoute, LinkSummary, ObserveError};
use crate::net::plan::LOCAL_TABLE;
use crate::net::PodInterface;

/// The main routing table.
const MAIN_TABLE: u32 = 254;

/// Links, addresses, routes, rules, ingress qdiscs and their filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetView {
    /// Every link.
    pub links: Vec<Link>,
    /// Every address.
    pub addresses: Vec<Address>,
    /// Every IPv4 route of every table.
    pub routes: Vec<Route>,
    /// Every IPv4 rule.
    pub rules: Vec<Rule>,
    /// Indexes of the links with an ingress qdisc.
    pub ingress: Vec<u32>,
    /// The filters under those qdiscs.
    pub filters: Vec<IngressFilter>,
}

impl NetView {
    /// The link named `name`.
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.summary.name == name)
    }

    /// The name of link `index` (`#index` when it is gone).
    pub fn name_of(&self, index: u32) -> String {
        self.links
            .iter()
            .find(|l| l.summary.index == index)
            .map_or_else(|| format!("#{index}"), |l| l.summary.name.clone())
    }

    /// The addresses on link `index`.
    pub fn addresses_of(&self, index: u32) -> impl Iterator<Item = &Address> {
        self.addresses.iter().filter(move |a| a.index == index)
    }

    /// Whether `::1` exists (the pod has IPv6 loopback).
    pub fn has_ipv6_loopback(&self) -> bool {
        self.addresses
            .iter()
            .any(|a| a.ip == IpAddr::from(std::net::Ipv6Addr::LOCALHOST))
    }

    /// Priorities of the `lookup local` rules.
    pub fn local_rule_priorities(&self) -> Vec<u32> {
        self.rules
            .iter()
            .filter(|r| r.table == LOCAL_TABLE && r.fwmark.is_none())
            .map(|r| r.priority)
            .collect()
    }

    /// The pod interface: the default route's, else the only non-loopback
    /// one (ukrun's own tap aside), with its first IPv4 address.
    pub fn pod_interface(&self, tap: Option<&str>) -> Result<PodInterface, ObserveError> {
        let summaries: Vec<LinkSummary> = self
            .links
            .iter()
            .filter(|l| Some(l.summary.name.as_str()) != tap)
            .map(|l| l.summary.clone())
            .collect();
        let default = self
            .routes
            .iter()
            .find(|r| r.table == MAIN_TABLE && r.prefix == 0)
            .map(|r| DefaultRoute {
                oif: r.oif,
                gateway: r.gateway,
            });
        let link = select_interface(&summaries, default)?;
        let (ipv4, prefix) = self
            .addresses_of(link.index)
            .find_map(|a| match a.ip {
                IpAddr::V4(v4) => Some((v4, a.prefix)),
                IpAddr::V6(_) => None,
            })
            .ok_or_else(|| ObserveError::NoIpv4(link.name.clone()))?;
        Ok(PodInterface {
            name: IfName::new(link.name.as_str())?,
            index: link.index,
            mac: link
                .mac
                .ok_or_else(|| ObserveError::NoMac(link.name.clone()))?,
            mtu: link.mtu,
            ipv4,
            prefix,
            gateway: default.and_then(|d| d.gateway),
        })
    }

    /// The first IPv4 address of link `name`.
    pub fn ipv4_of(&self, name: &str) -> Option<Ipv4Addr> {
        let index = self.link(name)?.summary.index;
        self.addresses_of(index).find_map(|a| match a.ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
    }
}
