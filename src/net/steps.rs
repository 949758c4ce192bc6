//! The changes ukrun makes in a pod netns, as data: the plan lists them, the
//! state records them as they are applied, and undo walks them backwards.

use serde::{Deserialize, Serialize};

/// One change in the pod netns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NetStep {
    /// A tap owned by the supervisor's file descriptor (it vanishes with the
    /// last descriptor; undo deletes it by name in case it did not).
    Tap {
        /// Interface name.
        name: String,
        /// MTU, the pod interface's.
        mtu: u32,
    },
    /// An ingress qdisc that ukrun added.
    IngressQdisc {
        /// Interface name.
        interface: String,
    },
    /// A u32 match-all filter with a mirred egress redirect.
    Redirect {
        /// Interface whose ingress is redirected.
        from: String,
        /// Interface the packets leave by.
        to: String,
    },
}

impl NetStep {
    /// One-line description for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            NetStep::Tap { name, mtu } => format!("tap {name} (mtu {mtu})"),
            NetStep::IngressQdisc { interface } => format!("ingress qdisc on {interface}"),
            NetStep::Redirect { from, to } => format!("tc redirect {from} -> {to}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_serialize_with_a_kind_tag() {
        let s = NetStep::Redirect {
            from: "eth0".into(),
            to: "tap".into(),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"kind":"redirect","from":"eth0","to":"tap"}"#);
        assert_eq!(serde_json::from_str::<NetStep>(&json).unwrap(), s);
        assert_eq!(s.describe(), "tc redirect eth0 -> tap");
    }
}
