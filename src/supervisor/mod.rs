//! The supervisor: the container's init as the shim sees it. It joins the
//! pod's namespaces and cgroup, wires the pod network to a tap, waits for
//! `start`, runs the VMM on the container's stdio, turns SIGTERM into a
//! graceful guest shutdown or ends the guest at once (see [`stop`]), and on
//! exit undoes everything and exits with the container's status.

pub mod cgroup;
pub mod control;
pub mod exit_watch;
pub mod fork;
#[cfg(test)]
mod golden;
#[cfg(test)]
mod golden_dns;
pub mod launch;
pub mod namespaces;
mod netns_watch;
mod predecessor;
pub mod shim_watch;
pub mod stop;
pub mod teardown;
pub mod title;
mod vmm_child;
mod vmm_files;
pub mod vmm_process;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::Config;
use crate::dns::delivery::Delivery;
use crate::dns::initrd::write_pod_initrd;
use crate::jail::cell::{Cell, CellSpec};
use crate::jail::ids;
use crate::jail::layout::Needs;
use crate::log::Logger;
use crate::names::Named;
use crate::net::dns_relay::{Relay, RelayConfig};
use crate::net::{forward, journal, libnftables, observe, plan};
use crate::spec::rootfs_path::Access;
use crate::spec::unikernel::open_vmm_file;
use crate::spec::Bundle;
use crate::state::{ContainerState, ProcessRef, Stage, StateJournal, Store, VmmCgroup};
use crate::vmm::input::TapAccess;
use control::{Request, CONTROL_SOCKET};
use launch::{vmm_command, LaunchInputs, Target};
use netns_watch::NetnsWatch;
use shim_watch::ShimWatch;
use title::Title;
use vmm_child::VmmChild;
use vmm_process::HeldVmm;

/// Bound on the relay's concurrent upstream queries.
const RELAY_MAX_IN_FLIGHT: usize = 256;
/// The VMM's root directory (its cell), in the state directory.
const VMM_ROOT: &str = "vmm";
/// QMP socket, relative to the VMM's root (its working directory); the
/// supervisor, whose working directory is the state directory, reaches it
/// as `vmm/qmp.sock` (unix socket paths are limited to 108 bytes and state
/// directories under containerd's root are longer).
const QMP_SOCKET: &str = "qmp.sock";
/// Requests read but not yet answered (`start` is the only one, and each
/// container is started once).
const CONTROL_QUEUE: usize = 4;

/// What the supervisor needs from the command line.
pub struct Context {
    /// State store.
    pub store: Store,
    /// ukrun configuration.
    pub config: Config,
    /// Log destination.
    pub logger: Logger,
    /// `--systemd-cgroup`: cgroupsPath is `slice:prefix:name`.
    pub systemd_cgroup: bool,
}

/// Waits for the supervisor's readiness report: `Ok` once it is ready, the
/// reason when it failed (or died) during setup.
pub fn wait_ready(mut sync: File) -> Result<(), String> {
    let mut report = String::new();
    let _ = sync.read_to_string(&mut report);
    match report.trim_end() {
        "ok" => Ok(()),
        "" => Err("the supervisor exited during setup".into()),
        other => Err(other.strip_prefix("error ").unwrap_or(other).to_owned()),
    }
}

/// The supervisor process's entry point; returns its exit code.
/// `sync` is the pipe on which it reports readiness to `create`;
/// `held_vmm_title` is what the VMM's process is called until its exec.
pub fn run(ctx: &Context, handoff: Handoff, sync: File, held_vmm_title: Option<Title>) -> i32 {
    let (state, state_dir, inputs) = match enter_pod(ctx, handoff) {
        Ok(entered) => entered,
        Err(e) => return report(sync, Err(e)),
    };
    // Threads may exist only from here on: they inherit the pod's namespaces.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(
                sync,
                Err(format!("cannot start the supervisor's event loop: {e}")),
            )
        }
    };
    rt.block_on(async move {
        let mut sup = match Supervisor::wire(ctx, state, state_dir, inputs, held_vmm_title).await {
            Ok(sup) => sup,
            Err(e) => return report(sync, Err(e)),
        };
        let watches = Watches {
            shim: ShimWatch::open(sup.state.shim, &ctx.logger),
            netns: sup.netns_watch(ctx),
        };
        report(sync, Ok(()));
        let code = sup.event_loop(ctx, &watches).await;
        sup.finish(ctx).await;
        if watches.shim.is_gone() {
            teardown::remove_orphan(&ctx.store, &sup.state, &ctx.logger);
        }
        code
    })
}

/// What the supervisor watches besides the VMM and its signals: the events
/// that end the guest from outside.
struct Watches {
    /// The shim that would run `delete` (see [`shim_watch`]).
    shim: ShimWatch,
    /// The pod netns path (see [`netns_watch`]); `None` when it cannot be
    /// watched (logged).
    netns: Option<NetnsWatch>,
}

impl Watches {
    /// Resolves when the shim or the pod netns path is gone, saying which.
    async fn ended(&self) -> String {
        let netns = async {
            match &self.netns {
                Some(watch) => {
                    watch.gone().await;
                    format!(
                        "the pod network namespace at {} is gone (its sandbox was torn down under the guest)",
                        watch.path().display()
                    )
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = self.shim.gone() => format!(
                "the shim (pid {}) is gone and containerd will not delete this container: the supervisor cleans up after it",
                self.shim.pid().unwrap_or_default()
            ),
            reason = netns => reason,
        }
    }
}

/// Tells `create` how setup went; returns the exit code for a failed setup.
fn report(mut sync: File, result: Result<(), String>) -> i32 {
    let line = match &result {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("error {e}"),
    };
    let _ = sync.write_all(line.as_bytes());
    i32::from(result.is_err())
}

/// What `create` hands the supervisor it forks: the container as recorded,
/// and the bundle and launch inputs as `create` checked them. The
/// supervisor works on what was checked, not on a second reading of the
/// bundle's files.
pub struct Handoff {
    /// The container's state, as `create` saved it.
    pub state: ContainerState,
    /// The bundle, loaded and checked.
    pub bundle: Bundle,
    /// [`launch::check`]'s result for it.
    pub inputs: LaunchInputs,
}

/// Joins the pod's namespaces and cgroup (single-threaded, before any runtime).
fn enter_pod(
    ctx: &Context,
    handoff: Handoff,
) -> Result<(ContainerState, PathBuf, LaunchInputs), String> {
    let Handoff {
        mut state,
        bundle,
        inputs,
    } = handoff;
    let state_dir = ctx.store.dir(&state.id).map_err(|e| e.to_string())?;
    let mut inputs =
        launch::with_monitor(inputs, state.unikernel.monitor).map_err(|e| e.to_string())?;
    state.supervisor = ProcessRef::of(std::process::id() as i32);
    state.netns = Some(namespaces::join(&bundle.spec).map_err(|e| e.to_string())?);
    let cgroup = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .map(|path| {
            let relative =
                cgroup::cgroup_relative_path(&path.to_string_lossy(), ctx.systemd_cgroup);
            let joined = cgroup::join(&relative, std::process::id(), &mut state.cgroups);
            (relative, joined)
        });
    // Records the supervisor, and what joining made even when it failed.
    ctx.store.save(&state).map_err(|e| e.to_string())?;
    if let Some((relative, joined)) = cgroup {
        joined.map_err(|e| e.to_string())?;
        inputs.cgroup = Some(relative);
    }
    std::env::set_current_dir(&state_dir)
        .map_err(|e| format!("cannot enter {}: {e}", state_dir.display()))?;
    Ok((state, state_dir, inputs))
}

/// A supervisor that is set up and serves until the VMM ends.
struct Supervisor {
    handle: rtnetlink::Handle,
    listener: UnixListener,
    /// The ::1 listeners of declared localhost ports.
    forwarders: Vec<tokio::task::JoinHandle<()>>,
    state: ContainerState,
    state_dir: PathBuf,
    /// The tap's descriptor, until a monitor that opens the tap by name takes it.
    tap: Option<OwnedFd>,
    inputs: LaunchInputs,
    guest: plan::GuestNet,
    /// The initrd with the pod's DNS files appended (files delivery).
    pod_initrd: Option<PathBuf>,
    /// The VMM's start, made ready after create (see
    /// [`Supervisor::prepare_vmm`]); `None` once a start took it.
    prepared: Option<Result<PreparedVmm, String>>,
    /// What the VMM's process is called in `ps` until its exec.
    held_vmm_title: Option<Title>,
}

/// A VMM forked into its cell, waiting to exec.
struct PreparedVmm {
    command: crate::vmm::input::VmmCommand,
    held: HeldVmm,
    /// Its user and group id.
    id: u32,
}

impl Supervisor {
    /// Wires the pod network and opens the control socket.
    async fn wire(
        ctx: &Context,
        mut state: ContainerState,
        state_dir: PathBuf,
        inputs: LaunchInputs,
        held_vmm_title: Option<Title>,
    ) -> Result<Self, String> {
        let (handle, tap, guest) = wire_network(ctx, &mut state, &inputs.wiring).await?;
        let (forwarders, listener, pod_initrd) =
            match start_services(ctx, &state, &state_dir, &inputs, &guest) {
                Ok(started) => started,
                Err(e) => {
                    teardown::undo_own_network(&ctx.store, &handle, &mut state, &ctx.logger).await;
                    return Err(e);
                }
            };
        state.dns = Some(inputs.dns.clone());
        state.stage = Stage::Created;
        ctx.store.save(&state).map_err(|e| e.to_string())?;
        Ok(Self {
            handle,
            listener,
            forwarders,
            state,
            state_dir,
            tap: Some(tap),
            inputs,
            guest,
            pod_initrd,
            prepared: None,
            held_vmm_title,
        })
    }

    /// Watches the pod netns path the container was given (`None`, logged,
    /// when it cannot).
    fn netns_watch(&self, ctx: &Context) -> Option<NetnsWatch> {
        let path = self.state.netns.as_ref()?;
        let watched = crate::state::netns_id::NetnsId::current()
            .and_then(|here| NetnsWatch::open(path, here.inode));
        watched
            .map_err(|e| {
                ctx.logger.error(&format!(
                    "cannot watch the pod network namespace at {}: {e}",
                    path.display()
                ));
            })
            .ok()
    }

    /// Closes the forwarders, undoes the network and removes the control
    /// socket. The cgroups stay until `delete`, as runc's do: containerd
    /// reads a stopped container's statistics from them until then.
    async fn finish(&mut self, ctx: &Context) {
        // A VMM held for a start that never came ends before its user id
        // is released.
        self.prepared = None;
        self.forwarders
            .iter()
            .for_each(tokio::task::JoinHandle::abort);
        teardown::undo_own_network(&ctx.store, &self.handle, &mut self.state, &ctx.logger).await;
        teardown::release_vmm_id(&ctx.store, &self.state);
        let _ = std::fs::remove_file(self.state_dir.join(CONTROL_SOCKET));
    }
}

/// What [`start_services`] started: the ::1 forwarders and the relay, the
/// control socket, and the initrd with the pod's DNS files (files delivery).
type Services = (
    Vec<tokio::task::JoinHandle<()>>,
    UnixListener,
    Option<PathBuf>,
);

/// Starts what serves the guest besides the data path: the pod's DNS
/// (files in the initrd), the ::1 localhost forwarders, and the control
/// socket `start` talks to.
fn start_services(
    ctx: &Context,
    state: &ContainerState,
    state_dir: &std::path::Path,
    inputs: &LaunchInputs,
    guest: &plan::GuestNet,
) -> Result<Services, String> {
    let mut tasks = Vec::new();
    let mut pod_initrd = None;
    if let Some(why) = &inputs.dns.fallback {
        ctx.logger.info(&format!("DNS: {why}"));
    }
    match &inputs.dns.delivery {
        Delivery::Files => {
            let in_image = state
                .unikernel
                .initrd
                .as_ref()
                .ok_or("files delivery needs an initrd")?;
            let initrd = open_vmm_file(
                &state.rootfs,
                &in_image.to_string_lossy(),
                "initrd",
                Access::Read,
                state.unikernel.monitor,
            )
            .map_err(|e| e.to_string())?;
            let with_files = write_pod_initrd(initrd, &inputs.pod_dns, state_dir)
                .map_err(|e| format!("cannot write the initrd with the pod's DNS files: {e}"))?;
            pod_initrd = Some(with_files);
            ctx.logger
                .info("DNS: the pod's resolv.conf, hosts and hostname are appended to the initrd");
        }
        Delivery::BootArgs => ctx.logger.info(&format!(
            "DNS: nameservers {:?} on the boot command line",
            inputs.dns.boot_nameservers
        )),
        Delivery::None(reason) => ctx
            .logger
            .info(&format!("DNS: the guest gets no resolver: {reason}")),
        Delivery::Relay { apply_search } => {
            tasks.push(start_relay(inputs, *apply_search)?);
            let reason = inputs
                .dns
                .reason
                .as_ref()
                .map(|r| format!(", for {r}"))
                .unwrap_or_default();
            ctx.logger.info(&format!(
                "DNS: relay on {}:53 for the guest{reason} (search list applied by the relay: {apply_search})",
                inputs.wiring.pod_loopback
            ));
        }
    }
    tasks.extend(
        forward::spawn_ipv6_loopback(
            &inputs.wiring.localhost_ports,
            guest.ip,
            inputs.wiring.pod_loopback,
        )
        .map_err(|e| e.to_string())?,
    );
    let listener = UnixListener::bind(CONTROL_SOCKET)
        .map_err(|e| format!("cannot listen on the control socket: {e}"))?;
    Ok((tasks, listener, pod_initrd))
}

/// Starts the DNS relay on the pod-loopback address (bound on the tap, so
/// only the guest reaches it), serving the pod's resolver configuration.
fn start_relay(
    inputs: &LaunchInputs,
    apply_search: bool,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let resolv = inputs.pod_dns.resolv.as_ref();
    let config = RelayConfig {
        upstreams: resolv
            .map(|r| {
                r.nameservers
                    .iter()
                    .map(|ip| std::net::SocketAddr::new(*ip, 53))
                    .collect()
            })
            .unwrap_or_default(),
        search: resolv.map(|r| r.search.clone()).unwrap_or_default(),
        ndots: resolv.map_or(1, |r| r.ndots),
        timeout: Duration::from_secs(resolv.map_or(5, |r| u64::from(r.timeout))),
        attempts: resolv.map_or(2, |r| r.attempts),
        apply_search,
        hosts: inputs
            .pod_dns
            .hosts
            .as_ref()
            .map(|h| h.entries.clone())
            .unwrap_or_default(),
        max_in_flight: RELAY_MAX_IN_FLIGHT,
    };
    let relay = Relay::bind(std::net::SocketAddr::from((inputs.wiring.pod_loopback, 53)))
        .map_err(|e| e.to_string())?;
    Ok(tokio::spawn(relay.serve(config)))
}

/// Observes, plans and applies the network, holding the pod netns's lock
/// and recording each step before it is applied; on failure, undoes what
/// was applied.
async fn wire_network(
    ctx: &Context,
    state: &mut ContainerState,
    wiring: &plan::Wiring,
) -> Result<(rtnetlink::Handle, OwnedFd, plan::GuestNet), String> {
    if wiring.mode == plan::NetworkMode::Routed {
        std::thread::spawn(libnftables::preload);
    }
    let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| format!("netlink: {e}"))?;
    tokio::spawn(conn);
    let lock = predecessor::take_over(ctx, state, &handle).await?;
    let pod = observe::observe(&handle).await.map_err(|e| e.to_string())?;
    forward::check_ipv4_loopback_free(&wiring.localhost_ports).map_err(|e| e.to_string())?;
    let net_plan = plan::plan(wiring, &pod, &state.id);
    ctx.logger
        .debug(&format!("pod interface {pod:?}; plan {net_plan:?}"));
    let mut journal = StateJournal {
        store: &ctx.store,
        state: &mut *state,
    };
    let applied = journal::apply_all(&handle, net_plan.steps, &mut journal)
        .await
        .and_then(|tap| tap.ok_or_else(|| "the network plan created no tap".to_owned()));
    match applied {
        Ok(tap) => Ok((handle, tap, net_plan.guest)),
        Err(e) => {
            teardown::undo_here(&handle, state, &lock, &ctx.logger).await;
            let _ = ctx.store.save(state);
            Err(format!("cannot set up the pod network: {e}"))
        }
    }
}

impl Supervisor {
    /// Serves until the VMM ends, or until a stop signal or the end of what
    /// `watches` watch comes before start; returns the exit code.
    async fn event_loop(&mut self, ctx: &Context, watches: &Watches) -> i32 {
        let mut stops = match StopSignals::new() {
            Ok(s) => s,
            Err(e) => {
                ctx.logger.error(&format!("cannot handle signals: {e}"));
                return 1;
            }
        };
        let mut vmm: Option<VmmChild> = None;
        let mut kill_at: Option<tokio::time::Instant> = None;
        let mut ended_on: Option<i32> = None;
        let mut ending = false;
        let caps = self.state.unikernel.kind.caps();
        let monitor = self.state.unikernel.monitor;
        let (requests, mut received) = tokio::sync::mpsc::channel(CONTROL_QUEUE);
        self.prepared = Some(self.prepare_vmm(ctx));
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        tokio::spawn(receive(stream, requests.clone()));
                    }
                }
                Some((request, reply)) = received.recv() => {
                    self.answer(ctx, request, reply, &mut vmm).await;
                }
                signal = stops.recv() => {
                    let Some(child) = vmm.as_ref() else {
                        return 128 + signal;
                    };
                    if self.stop_vmm(ctx, child, &mut kill_at).await {
                        ended_on = Some(signal);
                    }
                }
                reason = watches.ended(), if !ending => {
                    ctx.logger.info(&format!("{reason}: ending the guest"));
                    ending = true;
                    if let Some(code) = kill_guest(&vmm, &mut ended_on) {
                        return code;
                    }
                }
                _ = sleep_until_opt(kill_at) => {
                    if let Some(child) = vmm.as_ref() {
                        child.signal(Signal::SIGKILL);
                    }
                    kill_at = None;
                }
                status = wait_opt(vmm.as_mut()) => {
                    let vmm_code = status.map(vmm_process::exit_code).unwrap_or(1);
                    let code = stop::exit_code(&caps, monitor, vmm_code, ended_on);
                    ctx.logger.info(&format!("VMM exited with status {vmm_code}; the container exits with {code}"));
                    return code;
                }
            }
        }
    }

    /// Carries out the stop plan (see [`stop::plan`]) for the running VMM
    /// on a stop signal: asks the guest to power off, arming `kill_at` when
    /// a bound is configured, or ends the VMM. Whether it ended the VMM (the
    /// container then exits as killed by the signal).
    async fn stop_vmm(
        &self,
        ctx: &Context,
        child: &VmmChild,
        kill_at: &mut Option<tokio::time::Instant>,
    ) -> bool {
        let kind = self.state.unikernel.kind;
        let bound = ctx.config.supervisor.stop_grace_seconds;
        match stop::plan(&kind.caps(), self.state.unikernel.monitor, bound) {
            stop::Stop::AskAndWait(bound) => {
                let qmp = std::path::Path::new(VMM_ROOT).join(QMP_SOCKET);
                match crate::vmm::qmp::system_powerdown(&qmp).await {
                    Ok(()) => {
                        if let Some(bound) = bound {
                            kill_at.get_or_insert(tokio::time::Instant::now() + bound);
                        }
                        return false;
                    }
                    Err(e) => ctx.logger.info(&format!(
                        "graceful shutdown request failed ({e}); ending the VMM"
                    )),
                }
            }
            stop::Stop::EndNow => ctx.logger.info(&format!(
                "the {} guest cannot power off on request: ending the VMM",
                kind.name()
            )),
        }
        end_vmm(child);
        true
    }

    async fn answer(
        &mut self,
        ctx: &Context,
        request: Request,
        reply: OwnedWriteHalf,
        vmm: &mut Option<VmmChild>,
    ) {
        let result = match request {
            Request::Start if vmm.is_some() => {
                Err("cannot start a container that has already started".into())
            }
            Request::Start => self.start_vmm(ctx).await.map(|child| *vmm = Some(child)),
        };
        tokio::spawn(async move { control::write_reply(reply, &result).await });
    }

    /// Makes everything the VMM's start needs short of the exec: its
    /// command, user id, files, cgroup and cell, and forks its process into
    /// the cell, where it waits. The supervisor does this as soon as the
    /// container is created, while the shim starts `ukrun start`, so that a
    /// start only releases the monitor's exec (as runc's init waits, set
    /// up, for its exec). Errors are reported by `start`. Runs on the main
    /// thread (see [`vmm_process::hold`]).
    fn prepare_vmm(&mut self, ctx: &Context) -> Result<PreparedVmm, String> {
        let unikernel = &self.state.unikernel.clone();
        let tap_name = plan::tap_name(&self.state.id);
        let target = Target {
            net: &self.guest,
            tap: &tap_name,
            control_socket: std::path::Path::new(QMP_SOCKET),
        };
        let command =
            vmm_command(&self.inputs, unikernel, target, &ctx.config).map_err(|e| e.to_string())?;
        // A start that failed after leasing keeps its id for the next try.
        let id = match self.state.vmm_id {
            Some(id) => id,
            None => ids::Leases::new(std::path::Path::new(ids::LEASE_DIR), ctx.config.jail.ids)
                .lease(&self.state_dir)
                .map_err(|e| e.to_string())?,
        };
        self.state.vmm_id = Some(id);
        ctx.store.save(&self.state).map_err(|e| e.to_string())?;
        let files = vmm_files::open(&self.state, self.pod_initrd.as_deref(), &command, id)
            .map_err(|e| e.to_string())?;
        let made = self.vmm_cgroup();
        ctx.store.save(&self.state).map_err(|e| e.to_string())?;
        let cgroup_procs = made?;
        let tap = match command.tap {
            TapAccess::Fd(number) => self.tap.as_ref().map(|fd| (fd, number)),
            TapAccess::ByName => {
                if let Some(fd) = self.tap.take() {
                    crate::vmm::tap::release_for_open_by_name(fd, id, id)
                        .map_err(|e| format!("cannot hand tap {tap_name} over: {e}"))?;
                }
                None
            }
        };
        let mut handed: Vec<(std::os::fd::RawFd, i32)> = files.handed();
        handed.extend(tap.map(|(fd, number)| (std::os::fd::AsRawFd::as_raw_fd(fd), number)));
        let cell = Cell::prepare(CellSpec {
            root: &self.state_dir.join(VMM_ROOT),
            uid: id,
            gid: id,
            needs: Needs {
                binary: &command.binary,
                kvm: unikernel.monitor.needs_kvm(self.inputs.accel),
                tun: command.tap == TapAccess::ByName,
            },
            cgroup_procs,
            handed,
        })
        .map_err(|e| e.to_string())?;
        let title = self.held_vmm_title.as_ref();
        // SAFETY: showing the title is a copy and `enter` makes system
        // calls only (see Cell::enter); the event loop runs on the main
        // thread.
        let held = unsafe {
            vmm_process::hold(&command.binary, &command.argv, move || {
                if let Some(title) = title {
                    title.show();
                }
                cell.enter()
            })
        }
        .map_err(|e| e.to_string())?;
        // The held process has its copies of the files.
        drop(files);
        ctx.logger.debug(&format!(
            "the VMM's process (pid {}) waits in its cell for start",
            held.id()
        ));
        Ok(PreparedVmm { command, held, id })
    }

    /// Lets the VMM [`Self::prepare_vmm`] holds exec (preparing it now when
    /// a failed start used it up).
    async fn start_vmm(&mut self, ctx: &Context) -> Result<VmmChild, String> {
        let prepared = match self.prepared.take() {
            Some(prepared) => prepared,
            None => self.prepare_vmm(ctx),
        }?;
        let unikernel = &self.state.unikernel;
        ctx.logger.debug(&format!(
            "{} guest: {}",
            unikernel.kind.name(),
            unikernel.kind.caps().describe()
        ));
        if !self.inputs.env_withheld.is_empty() {
            ctx.logger.info(&format!(
                "the container's environment ({}) is not given to the guest: {} would show it on its command line",
                self.inputs.env_withheld.join(", "),
                unikernel.monitor.name()
            ));
        }
        let PreparedVmm { command, held, id } = prepared;
        let child = held.release().await.map_err(|e| e.to_string())?;
        self.state.vmm = ProcessRef::of(child.id() as i32);
        self.state.vmm_argv = command.display();
        self.state.stage = Stage::Running;
        ctx.store.save(&self.state).map_err(|e| e.to_string())?;
        ctx.logger.info(&format!(
            "started VMM ({} {}) as user {id}: {}",
            self.state.unikernel.monitor.name(),
            self.inputs.version.as_deref().unwrap_or("?"),
            self.state.vmm_argv.join(" ")
        ));
        Ok(child)
    }

    /// Makes the VMM's cgroup below the container's, with its limits, and
    /// returns its `cgroup.procs` files (none when the container has no cgroup).
    fn vmm_cgroup(&mut self) -> Result<Vec<PathBuf>, String> {
        let Some(container) = &self.inputs.cgroup else {
            return Ok(Vec::new());
        };
        let made = cgroup::create(&container.join(VMM_ROOT), &mut self.state.cgroups);
        let dirs = made.map_err(|e| e.to_string())?;
        cgroup::write_limits(&dirs, &self.inputs.limits.files()).map_err(|e| e.to_string())?;
        self.state.vmm_cgroup = Some(VmmCgroup {
            dirs: dirs.clone(),
            limits: self.inputs.limits.clone(),
        });
        Ok(dirs.iter().map(|d| d.join("cgroup.procs")).collect())
    }
}

/// Reads a control-socket client's request off the event loop, and queues
/// it for the loop (a bad or missing request is answered here).
async fn receive(
    stream: tokio::net::UnixStream,
    requests: tokio::sync::mpsc::Sender<(Request, OwnedWriteHalf)>,
) {
    let (read, write) = stream.into_split();
    match control::read_request(read).await {
        Ok(request) => {
            let _ = requests.send((request, write)).await;
        }
        Err(e) => control::write_reply(write, &Err(e)).await,
    }
}

/// Ends the guest because the pod around it is gone: SIGKILLs the VMM (the
/// container then exits as killed, 137), or returns that exit code at once
/// when no VMM was started.
fn kill_guest(vmm: &Option<VmmChild>, ended_on: &mut Option<i32>) -> Option<i32> {
    match vmm.as_ref() {
        Some(child) => {
            child.signal(Signal::SIGKILL);
            *ended_on = Some(libc::SIGKILL);
            None
        }
        None => Some(128 + libc::SIGKILL),
    }
}

/// The signals that ask a container to stop, in [`StopSignals`]' order.
const STOP_SIGNALS: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// Ends the VMM with SIGTERM: qemu exits at once on it, flushing its
/// disks; containerd's SIGKILL ends a monitor that does not.
fn end_vmm(child: &VmmChild) {
    child.signal(Signal::SIGTERM);
}

/// The signals that ask a container to stop.
struct StopSignals(Vec<tokio::signal::unix::Signal>);

impl StopSignals {
    fn new() -> std::io::Result<Self> {
        STOP_SIGNALS
            .into_iter()
            .map(|n| signal(SignalKind::from_raw(n)))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The next stop signal's number.
    async fn recv(&mut self) -> i32 {
        let waits = self.0.iter_mut().map(|s| Box::pin(s.recv()));
        let (_, index, _) = futures::future::select_all(waits).await;
        STOP_SIGNALS[index]
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn wait_opt(child: Option<&mut VmmChild>) -> std::io::Result<std::process::ExitStatus> {
    match child {
        Some(c) => c.wait().await,
        None => std::future::pending().await,
    }
}
