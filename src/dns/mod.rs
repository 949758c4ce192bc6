//! The pod's DNS in the guest: read the pod's files, decide the delivery,
//! and build what it needs (an initrd with the files appended).

pub mod cpio;
pub mod delivery;
pub mod initrd;
pub mod pod_dns;
pub mod sparse;
