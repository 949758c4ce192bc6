//! Applies and undoes plan steps with netlink (and nft, sysctl) in the
//! current netns. Undo is idempotent: a step whose object is already gone
//! counts as undone.

use std::net::IpAddr;
use std::os::fd::OwnedFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::packet_route::tc::TcHandle;
use rtnetlink::{Handle, LinkUnspec};

use super::abort;
use super::nft::{self, NftError};
use super::routing::{host_route, local_rule, rule_message};
use super::steps::NetStep;
use super::sysctl::{self, SysctlError};
use super::tap::{create_tap, TapError};

/// Priority of ukrun's tc filters (distinct from the usual CNI priorities).
const FILTER_PRIORITY: u16 = 0xc0de;
/// ETH_P_ALL in network byte order (as `tc … protocol all`): the filter
/// sees every protocol.
const ETH_P_ALL: u16 = 0x0003_u16.to_be();

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Tap creation failed.
    #[error(transparent)]
    Tap(#[from] TapError),
    /// An interface named by the plan does not exist.
    #[error("interface {0} does not exist")]
    NoInterface(String),
    /// The pod interface already has an ingress qdisc.
    #[error("{0} already has an ingress qdisc (another guest or a traffic shaper in this pod?): tc mode needs it for itself")]
    QdiscTaken(String),
    /// The local rule is not where the kernel puts it.
    #[error("the pod netns has no `lookup local` rule at priority {0} (another routed guest in this pod?)")]
    LocalRuleMoved(u32),
    /// A sysctl failed.
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    /// nft failed.
    #[error(transparent)]
    Nft(#[from] NftError),
    /// Netlink refused a request.
    #[error("{step}: {message}")]
    Netlink {
        /// The step.
        step: String,
        /// Kernel's answer.
        message: String,
    },
}

/// Records in `step` what applying it will replace (a sysctl's value, an
/// interface's tx queue length), so that undo restores it; changes nothing.
/// The caller saves the step before it applies it: a kill in between leaves
/// a record that undoes exactly what was changed.
pub async fn observe(handle: &Handle, step: &mut NetStep) -> Result<(), ApplyError> {
    match step {
        NetStep::IngressQdisc {
            interface,
            previous_txqueuelen,
        } => {
            let link = link_of(handle, interface)
                .await?
                .ok_or_else(|| ApplyError::NoInterface(interface.clone()))?;
            *previous_txqueuelen = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::TxQueueLen(length) => Some(*length),
                _ => None,
            });
        }
        NetStep::Sysctl { key, previous, .. } => *previous = Some(sysctl::read(key)?),
        _ => {}
    }
    Ok(())
}

/// Applies one step (after [`observe`]); a `Tap` step returns the
/// descriptor that keeps it alive. A step that fails changed nothing
/// (each is one netlink request, one nft transaction or one write, or
/// takes back its first part), so what it found taken is never undone.
pub async fn apply(handle: &Handle, step: &NetStep) -> Result<Option<OwnedFd>, ApplyError> {
    let what = step.describe();
    let fail = |e: rtnetlink::Error| ApplyError::Netlink {
        step: what.clone(),
        message: e.to_string(),
    };
    match step {
        NetStep::Tap { name, mtu } => {
            let fd = create_tap(name)?;
            let index = require_index(handle, name).await?;
            let msg = LinkUnspec::new_with_index(index).mtu(*mtu).up().build();
            handle.link().set(msg).execute().await.map_err(fail)?;
            return Ok(Some(fd));
        }
        NetStep::IngressQdisc { interface, .. } => {
            let index = require_index(handle, interface).await?;
            match handle.qdisc().add(index as i32).ingress().execute().await {
                Err(e) if errno(&e) == Some(libc::EEXIST) => {
                    return Err(ApplyError::QdiscTaken(interface.clone()))
                }
                other => other.map_err(fail)?,
            }
        }
        NetStep::Redirect { from, to } => {
            let from_index = require_index(handle, from).await?;
            let to_index = require_index(handle, to).await?;
            handle
                .traffic_filter(from_index as i32)
                .add()
                .ingress()
                .priority(FILTER_PRIORITY)
                .protocol(ETH_P_ALL)
                .redirect(to_index)
                .map_err(fail)?
                .execute()
                .await
                .map_err(fail)?;
        }
        NetStep::Address { interface, address } => {
            let index = require_index(handle, interface).await?;
            handle
                .address()
                .add(index, IpAddr::V4(*address), 32)
                .execute()
                .await
                .map_err(fail)?;
        }
        NetStep::Sysctl { key, value, .. } => sysctl::write(key, value)?,
        NetStep::Route {
            table,
            destination,
            interface,
            source,
        } => {
            let index = require_index(handle, interface).await?;
            handle
                .route()
                .add(host_route(*table, *destination, index, *source))
                .execute()
                .await
                .map_err(fail)?;
        }
        NetStep::Rule(rule) => {
            let mut req = handle.rule().add();
            *req.message_mut() = rule_message(rule);
            req.execute().await.map_err(fail)?;
        }
        NetStep::LocalRule { from, to } => {
            let mut req = handle.rule().add();
            *req.message_mut() = rule_message(&local_rule(*to));
            let added = match req.execute().await {
                Err(e) if errno(&e) == Some(libc::EEXIST) => false,
                other => other.map(|()| true).map_err(fail)?,
            };
            let moved = handle
                .rule()
                .del(rule_message(&local_rule(*from)))
                .execute()
                .await;
            if let Err(e) = moved {
                // A step that fails leaves nothing: the rule added is removed.
                if added {
                    let _ = handle
                        .rule()
                        .del(rule_message(&local_rule(*to)))
                        .execute()
                        .await;
                }
                return Err(match errno(&e) {
                    Some(libc::ENOENT) => ApplyError::LocalRuleMoved(*from),
                    _ => fail(e),
                });
            }
        }
        NetStep::Nftables { ruleset, .. } => nft::load(ruleset)?,
        NetStep::LoopbackConnections { .. } => {}
    }
    Ok(None)
}

/// Undoes one step; objects that are already gone are fine.
pub async fn undo(handle: &Handle, step: &NetStep) -> Result<(), ApplyError> {
    let what = format!("undo {}", step.describe());
    let fail = |e: rtnetlink::Error| ApplyError::Netlink {
        step: what.clone(),
        message: e.to_string(),
    };
    let gone = |e: &rtnetlink::Error| {
        matches!(
            errno(e),
            Some(libc::ENOENT | libc::ENODEV | libc::EINVAL | libc::ESRCH | libc::EADDRNOTAVAIL)
        )
    };
    let result = match step {
        NetStep::Tap { name, .. } => match index_of(handle, name).await? {
            Some(index) => handle.link().del(index).execute().await,
            None => Ok(()),
        },
        NetStep::IngressQdisc {
            interface,
            previous_txqueuelen,
        } => match index_of(handle, interface).await? {
            Some(index) => {
                let mut req = handle.qdisc().del(index as i32);
                req.message_mut().header.parent = TcHandle::INGRESS;
                req.message_mut().header.handle = TcHandle::from(0xffff_0000);
                match req.execute().await {
                    Err(e) if !gone(&e) => Err(e),
                    _ => match previous_txqueuelen {
                        Some(length) => set_txqueuelen(handle, index, *length).await,
                        None => Ok(()),
                    },
                }
            }
            None => Ok(()),
        },
        // The filter lives under ukrun's own ingress qdisc (apply refuses a
        // qdisc it did not create) and goes with it.
        NetStep::Redirect { .. } => Ok(()),
        NetStep::Address { interface, address } => match index_of(handle, interface).await? {
            Some(index) => delete_address(handle, index, *address).await,
            None => Ok(()),
        },
        NetStep::Sysctl { key, previous, .. } => {
            return match previous.as_deref().map(|p| sysctl::write(key, p)) {
                Some(Err(e)) if !sysctl::is_missing(&e) => Err(e.into()),
                _ => Ok(()),
            };
        }
        NetStep::Route {
            table,
            destination,
            interface,
            source,
        } => match index_of(handle, interface).await? {
            Some(index) => {
                handle
                    .route()
                    .del(host_route(*table, *destination, index, *source))
                    .execute()
                    .await
            }
            None => Ok(()),
        },
        NetStep::Rule(rule) => handle.rule().del(rule_message(rule)).execute().await,
        NetStep::LocalRule { from, to } => {
            let mut req = handle.rule().add();
            *req.message_mut() = rule_message(&local_rule(*from));
            match req.execute().await {
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                other => other.map_err(fail)?,
            }
            handle
                .rule()
                .del(rule_message(&local_rule(*to)))
                .execute()
                .await
        }
        NetStep::Nftables { table, .. } => {
            return nft::delete_table(table).map_err(ApplyError::from)
        }
        NetStep::LoopbackConnections { ports } => {
            return abort::abort_loopback_connections(ports)
                .map(drop)
                .map_err(|e| ApplyError::Netlink {
                    step: what,
                    message: e.to_string(),
                })
        }
    };
    match result {
        Err(e) if !gone(&e) => Err(fail(e)),
        _ => Ok(()),
    }
}

async fn delete_address(
    handle: &Handle,
    index: u32,
    address: std::net::Ipv4Addr,
) -> Result<(), rtnetlink::Error> {
    let found: Vec<_> = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .set_address_filter(IpAddr::V4(address))
        .execute()
        .try_collect()
        .await?;
    for message in found {
        handle.address().del(message).execute().await?;
    }
    Ok(())
}

async fn require_index(handle: &Handle, name: &str) -> Result<u32, ApplyError> {
    index_of(handle, name)
        .await?
        .ok_or_else(|| ApplyError::NoInterface(name.to_owned()))
}

/// The index of interface `name`, `None` when it does not exist.
pub async fn index_of(handle: &Handle, name: &str) -> Result<Option<u32>, ApplyError> {
    Ok(link_of(handle, name).await?.map(|l| l.header.index))
}

/// Interface `name` as netlink describes it, `None` when it does not exist.
async fn link_of(handle: &Handle, name: &str) -> Result<Option<LinkMessage>, ApplyError> {
    let found = handle
        .link()
        .get()
        .match_name(name.to_owned())
        .execute()
        .try_next()
        .await;
    match found {
        Ok(link) => Ok(link),
        Err(e) if matches!(errno(&e), Some(libc::ENODEV | libc::ENOENT)) => Ok(None),
        Err(e) => Err(ApplyError::Netlink {
            step: format!("look up {name}"),
            message: e.to_string(),
        }),
    }
}

/// Sets the tx queue length of interface `index`.
async fn set_txqueuelen(handle: &Handle, index: u32, length: u32) -> Result<(), rtnetlink::Error> {
    let message = LinkUnspec::new_with_index(index)
        .append_extra_attribute(LinkAttribute::TxQueueLen(length))
        .build();
    handle.link().set(message).execute().await
}

/// The positive errno of a netlink error, if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}
