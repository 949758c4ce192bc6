//! Netlink messages for routed mode's routes and policy rules, built the
//! same way for add and delete so undo removes exactly what apply added.

use std::net::{IpAddr, Ipv4Addr};

use rtnetlink::packet_route::route::{RouteMessage, RouteScope};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleHeader, RuleMessage};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::RouteMessageBuilder;

use super::steps::RoutingRule;

/// The message of a host route `destination/32 dev index src source table t`.
pub fn host_route(table: u32, destination: Ipv4Addr, index: u32, source: Ipv4Addr) -> RouteMessage {
    RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(destination, 32)
        .output_interface(index)
        .pref_source(source)
        .table_id(table)
        .scope(RouteScope::Link)
        .build()
}

/// The message of a rule `priority P [fwmark M/M] [iif I] [to D/32] lookup T`.
pub fn rule_message(rule: &RoutingRule) -> RuleMessage {
    let mut header = RuleHeader {
        family: AddressFamily::Inet,
        action: RuleAction::ToTable,
        ..Default::default()
    };
    let mut message = RuleMessage::default();
    message
        .attributes
        .push(RuleAttribute::Priority(rule.priority));
    if let Some(mark) = rule.fwmark {
        message.attributes.push(RuleAttribute::FwMark(mark));
        message.attributes.push(RuleAttribute::FwMask(mark));
    }
    if let Some(iif) = &rule.iif {
        message.attributes.push(RuleAttribute::Iifname(iif.clone()));
    }
    if let Some(to) = rule.to {
        header.dst_len = 32;
        message
            .attributes
            .push(RuleAttribute::Destination(IpAddr::V4(to)));
    }
    if rule.table < 256 {
        header.table = rule.table as u8;
    }
    message.attributes.push(RuleAttribute::Table(rule.table));
    message.header = header;
    message
}

/// The kernel's `lookup local` rule at `priority`.
pub fn local_rule(priority: u32) -> RoutingRule {
    RoutingRule {
        priority,
        fwmark: None,
        iif: None,
        to: None,
        table: super::plan::LOCAL_TABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_messages_carry_every_selector() {
        let rule = RoutingRule {
            priority: 20,
            fwmark: Some(0x80_0000),
            iif: Some("eth0".into()),
            to: Some(Ipv4Addr::new(10, 0, 0, 5)),
            table: 7547,
        };
        let m = rule_message(&rule);
        assert_eq!(m.header.dst_len, 32);
        assert_eq!(
            m.header.table, 0,
            "tables above 255 travel only as an attribute"
        );
        assert_eq!(
            m.attributes,
            vec![
                RuleAttribute::Priority(20),
                RuleAttribute::FwMark(0x80_0000),
                RuleAttribute::FwMask(0x80_0000),
                RuleAttribute::Iifname("eth0".into()),
                RuleAttribute::Destination(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5))),
                RuleAttribute::Table(7547),
            ]
        );
        let local = rule_message(&local_rule(0));
        assert_eq!(local.header.table, 255);
        assert_eq!(local.header.action, RuleAction::ToTable);
    }
}
