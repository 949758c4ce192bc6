//! The VMM's cell, in the spirit of Firecracker's jailer: every monitor
//! runs as a user of its own (`ids`), with no capability, `no_new_privs`
//! and a seccomp filter (`seccomp`), in a private mount namespace whose
//! root shows only what it needs (`layout`, `cell`), in a cgroup of its own
//! with the container's limits (`limits`), and reads its files only
//! through descriptors ukrun opened (`fds`). The supervisor calls it,
//! never the reverse.

pub mod cell;
pub mod fds;
pub mod ids;
pub mod layout;
pub mod limits;
pub mod seccomp;
