//! Reads ingress qdiscs and the ingress filters' mirred redirects of the
//! current network namespace over rtnetlink.

use futures::StreamExt;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use rtnetlink::packet_route::tc::{
    TcActionAttribute, TcActionMirrorOption, TcActionOption, TcAttribute, TcFilterU32Option,
    TcHandle, TcMessage, TcMirrorActionType, TcOption,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::Handle;

use super::links::dump;
use super::ReadError;

/// The ingress qdisc's handle (`ffff:`), parent of its filters.
const INGRESS_HANDLE: u32 = 0xffff_0000;

/// A u32 filter on an interface's ingress and where it redirects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngressFilter {
    /// Interface the filter is attached to.
    pub index: u32,
    /// Classifier kind (`u32`, …).
    pub kind: String,
    /// Interfaces its mirred actions redirect to (egress).
    pub redirect_to: Vec<u32>,
}

/// Indexes of the interfaces that have an ingress qdisc.
pub async fn ingress_qdiscs(handle: &Handle) -> Result<Vec<u32>, ReadError> {
    let messages = dump(handle.qdisc().get().execute(), "qdiscs").await?;
    Ok(messages
        .into_iter()
        .filter(|m| m.header.parent == TcHandle::INGRESS)
        .filter_map(|m| u32::try_from(m.header.index).ok())
        .collect())
}

/// The filters under the ingress qdisc of interface `index`.
pub async fn ingress_filters(handle: &Handle, index: u32) -> Result<Vec<IngressFilter>, ReadError> {
    let mut message = TcMessage::default();
    message.header.index = index as i32;
    message.header.parent = TcHandle::from(INGRESS_HANDLE);
    let mut request = NetlinkMessage::from(RouteNetlinkMessage::GetTrafficFilter(message));
    request.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let failed = |message: String| ReadError::Netlink {
        what: "tc filters",
        message,
    };
    let mut replies = handle
        .clone()
        .request(request)
        .map_err(|e| failed(e.to_string()))?;
    let mut filters = Vec::new();
    while let Some(reply) = replies.next().await {
        match reply.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewTrafficFilter(m)) => {
                filters.push(filter(index, m));
            }
            NetlinkPayload::Error(e) if e.code.is_some() => return Err(failed(e.to_string())),
            _ => {}
        }
    }
    Ok(filters)
}

fn filter(index: u32, m: TcMessage) -> IngressFilter {
    let mut f = IngressFilter {
        index,
        kind: String::new(),
        redirect_to: Vec::new(),
    };
    for attr in m.attributes {
        match attr {
            TcAttribute::Kind(kind) => f.kind = kind,
            TcAttribute::Options(options) => {
                f.redirect_to.extend(options.iter().flat_map(redirects));
            }
            _ => {}
        }
    }
    f
}

/// The egress-redirect targets of a u32 option's actions.
fn redirects(option: &TcOption) -> Vec<u32> {
    let TcOption::U32(TcFilterU32Option::Action(actions)) = option else {
        return Vec::new();
    };
    actions
        .iter()
        .flat_map(|a| &a.attributes)
        .filter_map(|attr| match attr {
            TcActionAttribute::Options(options) => Some(options),
            _ => None,
        })
        .flatten()
        .filter_map(|o| match o {
            TcActionOption::Mirror(TcActionMirrorOption::Parms(p))
                if p.eaction == TcMirrorActionType::EgressRedir =>
            {
                Some(p.ifindex)
            }
            _ => None,
        })
        .collect()
}
