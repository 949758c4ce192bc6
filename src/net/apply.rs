//! Applies and undoes plan steps with netlink in the current netns. Undo is
//! idempotent: a step whose object is already gone counts as undone.

use std::os::fd::OwnedFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::tc::TcHandle;
use rtnetlink::{Handle, LinkUnspec};

use super::steps::NetStep;
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
    /// Netlink refused a request.
    #[error("{step}: {message}")]
    Netlink {
        /// The step.
        step: String,
        /// Kernel's answer.
        message: String,
    },
}

/// Applies one step; a `Tap` step returns the descriptor that keeps it alive.
pub async fn apply(handle: &Handle, step: &NetStep) -> Result<Option<OwnedFd>, ApplyError> {
    let fail = |e: rtnetlink::Error| ApplyError::Netlink {
        step: step.describe(),
        message: e.to_string(),
    };
    match step {
        NetStep::Tap { name, mtu } => {
            let fd = create_tap(name)?;
            let index = index_of(handle, name)
                .await?
                .ok_or_else(|| ApplyError::NoInterface(name.clone()))?;
            let msg = LinkUnspec::new_with_index(index).mtu(*mtu).up().build();
            handle.link().set(msg).execute().await.map_err(fail)?;
            Ok(Some(fd))
        }
        NetStep::IngressQdisc { interface } => {
            let index = index_of(handle, interface)
                .await?
                .ok_or_else(|| ApplyError::NoInterface(interface.clone()))?;
            match handle.qdisc().add(index as i32).ingress().execute().await {
                Err(e) if errno(&e) == Some(libc::EEXIST) => {
                    Err(ApplyError::QdiscTaken(interface.clone()))
                }
                other => other.map(|_| None).map_err(fail),
            }
        }
        NetStep::Redirect { from, to } => {
            let from_index = index_of(handle, from)
                .await?
                .ok_or_else(|| ApplyError::NoInterface(from.clone()))?;
            let to_index = index_of(handle, to)
                .await?
                .ok_or_else(|| ApplyError::NoInterface(to.clone()))?;
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
            Ok(None)
        }
    }
}

/// Undoes one step; objects that are already gone are fine.
pub async fn undo(handle: &Handle, step: &NetStep) -> Result<(), ApplyError> {
    let fail = |e: rtnetlink::Error| ApplyError::Netlink {
        step: format!("undo {}", step.describe()),
        message: e.to_string(),
    };
    let gone =
        |e: &rtnetlink::Error| matches!(errno(e), Some(libc::ENOENT | libc::ENODEV | libc::EINVAL));
    let result = match step {
        NetStep::Tap { name, .. } => match index_of(handle, name).await? {
            Some(index) => handle.link().del(index).execute().await,
            None => Ok(()),
        },
        NetStep::IngressQdisc { interface } => match index_of(handle, interface).await? {
            Some(index) => {
                let mut req = handle.qdisc().del(index as i32);
                req.message_mut().header.parent = TcHandle::INGRESS;
                req.message_mut().header.handle = TcHandle::from(0xffff_0000);
                req.execute().await
            }
            None => Ok(()),
        },
        // The filter lives under ukrun's own ingress qdisc (apply refuses a
        // qdisc it did not create) and goes with it.
        NetStep::Redirect { .. } => Ok(()),
    };
    match result {
        Err(e) if !gone(&e) => Err(fail(e)),
        _ => Ok(()),
    }
}

/// The index of interface `name`, `None` when it does not exist.
pub async fn index_of(handle: &Handle, name: &str) -> Result<Option<u32>, ApplyError> {
    let found = handle
        .link()
        .get()
        .match_name(name.to_owned())
        .execute()
        .try_next()
        .await;
    match found {
        Ok(link) => Ok(link.map(|l| l.header.index)),
        Err(e) if matches!(errno(&e), Some(libc::ENODEV | libc::ENOENT)) => Ok(None),
        Err(e) => Err(ApplyError::Netlink {
            step: format!("look up {name}"),
            message: e.to_string(),
        }),
    }
}

/// The positive errno of a netlink error, if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}
