//! What containerd derives from `ukrun features`, seen through its CRI: the
//! `ukrun` handler offers what the `runc` handler offers (containerd 2.x
//! asks each handler's binary once), so a sidecar's recursive read-only
//! mount works under ukrun exactly as under runc, and a unikernel
//! container in a pod with a user namespace is refused by ukrun with its
//! reason in the CRI error, leaving nothing behind. containerd 1.6 asks
//! no handler for features and acts on neither CRI field; there the
//! tests check that both handlers get the same (non-recursive, host
//! users) treatment. Need root and containerd.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use ukrun_testbed::containerd_version::Containerd;
use ukrun_testbed::cri::{
    pod_user_namespace, ContainerSpec, RuntimeHandlerFeatures, UserNamespace,
};
use ukrun_testbed::leftovers::Footprint;
use ukrun_testbed::node::Node;
use ukrun_testbed::pod::{Pod, UKRUN_HANDLER};
use ukrun_testbed::submount::{FolderWithSubmount, SUBMOUNT};
use ukrun_testbed::{guest, netstate, nettest, pod_files};

/// The handler node.sh maps to plain runc.
const RUNC_HANDLER: &str = "runc";

/// Where the sidecar sees the node's folder.
const MOUNT_POINT: &str = "/data";

/// CRI-side timeout of the ExecSync calls.
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);

/// The user namespace of the userns pods: container ids 0..65536 are host
/// ids 65536.., as kubelet hands out its first range.
const USERNS_HOST_ID: u32 = 65536;
const USERNS_SIZE: u32 = 65536;

/// What ukrun says when a guest is asked to run in a user namespace
/// (`src/spec/guest_limits.rs`).
const USERNS_REFUSAL: &str = "the guest cannot run in a user namespace";

/// What containerd 2.x says when a container has ID-mapped mounts and the
/// handler's features do not offer them.
const IDMAP_REFUSAL: &str = "idmap mounts not supported";

/// Runs `scenario` on a fresh node whose `ukrun` handler is this crate's binary.
fn on_node(scenario: impl FnOnce(&Node) -> Result<()>) -> Result<()> {
    Node::run(Path::new(env!("CARGO_BIN_EXE_ukrun")), scenario)
}

/// The features containerd reports for `handler` in its Status.
fn handler_features(node: &Node, handler: &str) -> Result<Option<RuntimeHandlerFeatures>> {
    let handlers = node.cri().runtime_handlers()?;
    Ok(handlers
        .into_iter()
        .find(|h| h.name == handler)
        .and_then(|h| h.features))
}

/// Fails unless busybox container `id` of `pod`, when the pod is on the
/// `ukrun` handler, was handed to runc.
fn handed_to_runc(node: &Node, pod: &Pod, id: &str) -> Result<()> {
    ensure!(
        pod.handler != UKRUN_HANDLER || node.delegated_to_runc(id),
        "ukrun did not hand the busybox container to runc"
    );
    Ok(())
}

/// What writing one file did inside the sidecar: `written`, or the
/// error busybox `touch` printed after the path (e.g. `Read-only file
/// system`).
fn write_result(node: &Node, id: &str, path: &str) -> Result<String> {
    let out = node.cri().exec_sync(id, &["touch", path], EXEC_TIMEOUT)?;
    if out.exit_code == 0 {
        return Ok("written".to_string());
    }
    let reason = out.stderr.trim().rsplit(": ").next().unwrap_or_default();
    Ok(reason.to_string())
}

/// How the sidecar of a pod on `handler` sees `folder` mounted read-only
/// and recursively so: the write results at the folder's top and in its
/// submount. Removes what a write left on the node and the pod.
fn recursive_read_only_view(
    node: &Node,
    handler: &str,
    folder: &FolderWithSubmount,
) -> Result<(String, String)> {
    let pod = Pod::run(node, &format!("rro-{handler}"), handler)?;
    let sidecar = guest::sidecar().read_only_mount(folder.path(), MOUNT_POINT, true);
    let id = pod
        .start(&sidecar)
        .with_context(|| format!("the sidecar with a recursive read-only mount on {handler}"))?;
    handed_to_runc(node, &pod, &id)?;
    let top = write_result(node, &id, &format!("{MOUNT_POINT}/probe"))?;
    let sub = write_result(node, &id, &format!("{MOUNT_POINT}/{SUBMOUNT}/probe"))?;
    let written = folder.submount().join("probe");
    ensure!(
        written.exists() == (sub == "written"),
        "the sidecar's write into the submount ({sub}) and the node's tmpfs disagree"
    );
    let _ = std::fs::remove_file(&written);
    pod.remove_container(&id)?;
    pod.remove()?;
    Ok((top, sub))
}

/// The `ukrun` handler reports runc's features through CRI Status, and a
/// busybox sidecar's read-only mount of a node folder with a tmpfs inside
/// it, asked recursive, ends as under the `runc` handler. On containerd
/// 2.3.4 that is recursive (the write into the submount fails with
/// EROFS; before `ukrun features` passed runc's document on, containerd
/// refused the container with RROUnsupported); containerd 1.6 reports no
/// handler features and ignores the field, so for both handlers the
/// mount is read-only at its top and the submount stays writable.
#[test]
fn sidecar_recursive_read_only_mount_as_under_runc() -> Result<()> {
    on_node(|node| {
        let ukrun = handler_features(node, UKRUN_HANDLER)?;
        let runc = handler_features(node, RUNC_HANDLER)?;
        eprintln!("handler features: ukrun {ukrun:?}, runc {runc:?}");
        ensure!(
            ukrun == runc,
            "handler features differ: ukrun {ukrun:?}, runc {runc:?}"
        );
        let expected_sub = match node.containerd() {
            Containerd::V2_3 => {
                ensure!(
                    runc.is_some_and(|f| f.recursive_read_only_mounts),
                    "containerd 2.3.4 reports no recursive read-only mounts for runc: {runc:?}"
                );
                "Read-only file system"
            }
            Containerd::V1_6 => {
                ensure!(runc.is_none(), "containerd 1.6 reported features: {runc:?}");
                "written"
            }
        };

        let folder = FolderWithSubmount::create("rro")?;
        let under_ukrun = recursive_read_only_view(node, UKRUN_HANDLER, &folder)?;
        let under_runc = recursive_read_only_view(node, RUNC_HANDLER, &folder)?;
        eprintln!("writes (top, submount): ukrun {under_ukrun:?}, runc {under_runc:?}");
        ensure!(
            under_ukrun == under_runc,
            "the sidecar's mount differs: ukrun {under_ukrun:?}, runc {under_runc:?}"
        );
        let expected = (
            "Read-only file system".to_string(),
            expected_sub.to_string(),
        );
        ensure!(
            under_runc == expected,
            "on containerd {}, writes (top, submount) gave {under_runc:?}, not {expected:?}",
            node.containerd()
        );
        Ok(())
    })
}

/// The unikernel containers of the test bed: the Linux guest, and the
/// Unikraft `nettest` when the node has it.
fn guests(node: &Node) -> Vec<ContainerSpec> {
    let mut all = vec![guest::container()];
    if node.has_unikraft() {
        all.push(nettest::container());
    }
    all
}

/// `/proc/self/uid_map` of a process exec'd in container `id`, one
/// mapping per line, spaces collapsed.
fn uid_map(node: &Node, id: &str) -> Result<String> {
    let out = node
        .cri()
        .exec_sync(id, &["cat", "/proc/self/uid_map"], EXEC_TIMEOUT)?;
    ensure!(out.exit_code == 0, "reading uid_map: {out:?}");
    let lines: Vec<String> = out
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    Ok(lines.join("\n"))
}

/// How a busybox container of `pod` fared: `Ok` with its uid_map when it
/// runs (then it is removed), or the CRI error of its refusal.
fn sidecar_outcome(
    node: &Node,
    pod: &Pod,
    sidecar: &ContainerSpec,
) -> Result<Result<String, String>> {
    let id = match pod.try_start(sidecar)? {
        Ok(id) => id,
        Err(refusal) => return Ok(Err(format!("{refusal:#}"))),
    };
    handed_to_runc(node, pod, &id)?;
    let map = uid_map(node, &id)?;
    pod.remove_container(&id)?;
    Ok(Ok(map))
}

/// A user namespace pod named after `handler`.
fn userns_pod<'n>(node: &'n Node, handler: &str, userns: &UserNamespace) -> Result<Pod<'n>> {
    Pod::run_with(node, &format!("userns-{handler}"), handler, |spec| {
        spec.user_namespace = Some(userns.clone());
    })
    .with_context(|| format!("RunPodSandbox with a user namespace on {handler}"))
}

/// Starts `container` in `pod`, expecting a refusal on one line that says
/// `reason`; nothing may be added on the node (process, state) nor in
/// the pod's network namespace.
fn refused_cleanly(node: &Node, pod: &Pod, container: &ContainerSpec, reason: &str) -> Result<()> {
    let mut footprint = Footprint::new(node)?;
    footprint.add_pod(pod)?;
    let netns = pod.netns()?;
    let network_before = netstate::snapshot(&netns)?;
    let before = footprint.snapshot();
    let error = format!("{:#}", pod.start_refused(container)?);
    eprintln!("{} refused: {error}", container.image);
    ensure!(
        error.contains(reason) && !error.contains('\n'),
        "{}: the CRI error should say {reason:?} on one line: {error}",
        container.image
    );
    footprint.assert_nothing_added(&before)?;
    let changes = netstate::diff(&network_before, &netstate::snapshot(&netns)?);
    ensure!(
        changes.is_empty(),
        "{}: the pod netns changed:\n  {}",
        container.image,
        changes.join("\n  ")
    );
    Ok(())
}

/// Pods with a user namespace (`hostUsers: false`; container 0 → host
/// 65536, 65536 ids) on the `ukrun` and the `runc` handler.
///
/// On containerd 2.3.4: a busybox container given containerd's own
/// (ID-mapped) pod files fares the same on both handlers — with a runc
/// that cannot make ID-mapped mounts (no `mountExtensions.idmap` in its
/// features; Debian 12's 1.1.5), containerd refuses it before any runtime
/// runs; with the pod files mounted by the test it runs in the pod's user
/// namespace, handed to runc by ukrun. Each unikernel container, with
/// the test's pod files, is refused by ukrun with its one line in the CRI
/// error; with containerd's, by containerd as the sidecar was (or, with a
/// runc that makes ID-mapped mounts, by ukrun); either way leaving no
/// process, no state and no change in the pod's network namespace.
///
/// containerd 1.6 ignores the CRI's user namespace options: the
/// containers of both handlers run with the host's users, the guests too.
#[test]
fn unikernel_in_a_user_namespace_pod_is_refused() -> Result<()> {
    on_node(|node| {
        let userns = pod_user_namespace(USERNS_HOST_ID, USERNS_SIZE);
        let on_ukrun = userns_pod(node, UKRUN_HANDLER, &userns)?;
        let on_runc = userns_pod(node, RUNC_HANDLER, &userns)?;
        let mut footprint = Footprint::new(node)?;
        footprint.add_pod(&on_ukrun)?;
        footprint.add_pod(&on_runc)?;
        let sidecar = guest::sidecar().user_namespace(&userns);

        let in_userns = match node.containerd() {
            Containerd::V2_3 => format!("0 {USERNS_HOST_ID} {USERNS_SIZE}"),
            Containerd::V1_6 => "0 0 4294967295".to_string(),
        };
        // containerd 2.x refuses ID-mapped mounts the handler's features
        // do not offer; containerd 1.6 maps nothing.
        let runc_userns = handler_features(node, RUNC_HANDLER)?.is_some_and(|f| f.user_namespaces);
        let idmapped_run = node.containerd() == Containerd::V1_6 || runc_userns;

        let idmapped_ukrun = sidecar_outcome(node, &on_ukrun, &sidecar)?;
        let idmapped_runc = sidecar_outcome(node, &on_runc, &sidecar)?;
        eprintln!("with containerd's pod files: ukrun {idmapped_ukrun:?}, runc {idmapped_runc:?}");
        ensure!(
            idmapped_ukrun == idmapped_runc,
            "the sidecar fares differently: ukrun {idmapped_ukrun:?}, runc {idmapped_runc:?}"
        );
        let as_expected = match &idmapped_runc {
            Ok(map) => idmapped_run && *map == in_userns,
            Err(error) => !idmapped_run && error.contains(IDMAP_REFUSAL),
        };
        ensure!(
            as_expected,
            "with containerd's pod files on containerd {} (runc's user_namespaces {runc_userns}): {idmapped_runc:?}",
            node.containerd()
        );
        let own_files = pod_files::mounted_by_the_test(node, &on_ukrun, sidecar)?;
        let outcome = sidecar_outcome(node, &on_ukrun, &own_files)?;
        ensure!(
            outcome.as_ref() == Ok(&in_userns),
            "with the test's pod files, the sidecar on ukrun: {outcome:?}, not uid_map {in_userns:?}"
        );

        for guest in guests(node) {
            let guest = guest.user_namespace(&userns);
            let own_files = pod_files::mounted_by_the_test(node, &on_ukrun, guest.clone())?;
            if node.containerd() == Containerd::V1_6 {
                for container in [&guest, &own_files] {
                    let id = on_ukrun
                        .start(container)
                        .context("the guest on containerd 1.6")?;
                    on_ukrun.remove_container(&id)?;
                }
                continue;
            }
            refused_cleanly(node, &on_ukrun, &own_files, USERNS_REFUSAL)?;
            let reason = if runc_userns {
                USERNS_REFUSAL
            } else {
                IDMAP_REFUSAL
            };
            refused_cleanly(node, &on_ukrun, &guest, reason)?;
        }
        on_ukrun.remove()?;
        on_runc.remove()?;
        footprint.assert_gone()
    })
}
