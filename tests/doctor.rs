//! `ukrun doctor` on real pods with the Linux guest: healthy routed and tc
//! pods pass, links broken on purpose fail on their own check with a hint
//! that names the fix, doctor changes nothing, and a doctor that cannot
//! run says so in one line with exit code 2. Every `--json` report is
//! validated against docs/doctor.schema.json.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use ukrun_testbed::dns_server::DnsServer;
use ukrun_testbed::doctor::checks_with;
use ukrun_testbed::fixture::Fixture;
use ukrun_testbed::made_dirs::MadeDirs;
use ukrun_testbed::topology::{Shape, NODE_IP, POD_IP};
use ukrun_testbed::wait;

const MODE: &str = "ukrun.dev/network-mode";
const PORTS: &str = "ukrun.dev/localhost-ports";
const ID: &str = "g1";
/// The fixture's tap for [`ID`].
const TAP: &str = "uk-g1";

/// The pod's files, as kubelet writes them: resolv.conf naming the
/// cluster DNS on the node, hosts with the pod's own name, hostname.
const POD_FILES: [(&str, &str); 3] = [
    ("/etc/resolv.conf", "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.77.0.1\noptions ndots:5\n"),
    ("/etc/hosts", "127.0.0.1\tlocalhost\n10.77.0.2\tdoctor-pod\n"),
    ("/etc/hostname", "doctor-pod\n"),
];

/// A fixture whose guest uses `mode`, with the pod's files mounted as
/// containerd mounts kubelet's, the guest's HTTP port declared for
/// localhost in routed mode, and the cluster DNS the pod names running in
/// the node netns (dropping it stops the server).
fn fixture(tag: &str, mode: &str) -> Result<(Fixture, DnsServer)> {
    let fx = Fixture::new(
        Path::new(env!("CARGO_BIN_EXE_ukrun")),
        tag,
        Shape::Bridge { mtu: 1500 },
    )?;
    fx.bundle.mount_pod_files(&POD_FILES)?;
    fx.bundle.edit(|c| {
        c["annotations"][MODE] = mode.into();
        if mode == "routed" {
            c["annotations"][PORTS] = "8080, 5353/udp".into();
        }
    })?;
    let dns = DnsServer::cluster(&fx.topo.node_netns(), NODE_IP)?;
    Ok((fx, dns))
}

/// Creates, starts and waits for the guest's readiness line.
fn running(fx: &Fixture) -> Result<()> {
    fx.create(ID)?;
    fx.start(ID)?;
    fx.wait_ready(ID).map(drop)
}

/// Runs `ukrun doctor ARGS`.
fn doctor(fx: &Fixture, args: &[&str]) -> Result<Output> {
    let mut argv = vec!["doctor"];
    argv.extend(args);
    fx.runtime.run(&argv)
}

/// `doctor --json ARGS`: the exit code and the report, validated against
/// the documented schema.
fn report(fx: &Fixture, args: &[&str]) -> Result<(i32, Value)> {
    let mut argv = vec!["--json"];
    argv.extend(args);
    let out = doctor(fx, &argv)?;
    let doc: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "doctor --json printed no JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let schema: Value = serde_json::from_str(include_str!("../docs/doctor.schema.json"))?;
    let problems = schema::validate(&schema, &doc, "$");
    ensure!(
        problems.is_empty(),
        "the report breaks docs/doctor.schema.json: {problems:?}\n{doc:#}"
    );
    let code = out.status.code().context("doctor was killed")?;
    ensure!(
        doc["exit_code"] == code,
        "the document's exit_code is the process's"
    );
    Ok((code, doc))
}

/// Asserts that `name` is the one failing check and that its hint has `fix`.
fn only_failure(code: i32, doc: &Value, name: &str, fix: &str) -> Result<()> {
    ensure!(code == 1, "a failed check exits 1, got {code}:\n{doc:#}");
    ensure!(
        checks_with(doc, "FAIL") == [name],
        "only {name} fails:\n{doc:#}"
    );
    let check = doc["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .context("the failing check")?;
    let hint = check["hint"].as_str().unwrap_or_default();
    ensure!(
        hint.contains(fix),
        "{name}'s hint names the fix {fix:?}: {hint}"
    );
    Ok(())
}

/// Runs `ip`/`tc` in the pod netns.
fn in_pod(fx: &Fixture, program: &str, args: &[&str]) -> Result<String> {
    fx.topo.pod_netns().run(program, args)
}

/// Everything doctor must leave alone: links, addresses, routes of every
/// table, rules, qdiscs, nftables, sysctls, and the filters of both ends.
fn pod_state(fx: &Fixture) -> Result<String> {
    let mut text = fx.topo.pod_network_view()?;
    for dev in ["eth0", TAP] {
        text.push_str(&in_pod(
            fx,
            "tc",
            &["filter", "show", "dev", dev, "ingress"],
        )?);
    }
    Ok(text)
}

/// A healthy pod: doctor passes (with `warnings`), changes nothing, and
/// its time is printed.
fn healthy(mode: &str, tag: &str, warnings: &[&str]) -> Result<()> {
    let (fx, _dns) = fixture(tag, mode)?;
    if mode == "routed" {
        // The relay (routed mode only) is checked listening; the tc pod
        // gets files delivery.
        fx.bundle
            .edit(|c| c["annotations"]["ukrun.dev/dns-delivery"] = "relay".into())?;
    }
    running(&fx)?;
    let before = pod_state(&fx)?;
    let started = Instant::now();
    let (code, doc) = report(&fx, &[ID])?;
    let took = started.elapsed();
    writeln!(
        std::io::stderr(),
        "doctor on a healthy {mode} pod took {} ms (goal < 2000 ms)",
        took.as_millis()
    )?;
    ensure!(code == 0, "a healthy pod exits 0:\n{doc:#}");
    ensure!(
        checks_with(&doc, "FAIL").is_empty(),
        "nothing fails:\n{doc:#}"
    );
    ensure!(
        checks_with(&doc, "WARN") == warnings,
        "warnings are {warnings:?}:\n{doc:#}"
    );
    ensure!(doc["mode"] == mode && doc["container"] == ID);
    let table = doctor(&fx, &[ID])?;
    let text = String::from_utf8_lossy(&table.stdout);
    writeln!(std::io::stderr(), "{text}")?;
    ensure!(
        table.status.code() == Some(0)
            && text.lines().count() == doc["checks"].as_array().map_or(0, Vec::len) + 2,
        "the table has a header, one line per check and a summary:\n{text}"
    );
    ensure!(
        text.lines()
            .skip(1)
            .all(|l| ["PASS", "WARN", "FAIL", "container"]
                .iter()
                .any(|v| l.starts_with(v))),
        "{text}"
    );
    let netns = fx.topo.pod_netns().path().to_string_lossy().into_owned();
    let (code, bare) = report(&fx, &["--netns", &netns])?;
    ensure!(
        code == 0 && bare["container"].is_null() && bare["mode"] == mode,
        "--netns finds the guest's wiring without the container:\n{bare:#}"
    );
    let after = pod_state(&fx)?;
    ensure!(
        before == after,
        "doctor changed the pod netns:\nbefore:\n{before}\nafter:\n{after}"
    );
    Ok(())
}

#[test]
fn healthy_routed_pod_passes_every_check() -> Result<()> {
    healthy("routed", "drh", &[])
}

#[test]
fn healthy_tc_pod_passes_and_warns_about_sidecars() -> Result<()> {
    healthy("tc", "dth", &["tc.sidecars"])
}

#[test]
fn deleted_tap_filter_fails_its_check() -> Result<()> {
    let (fx, _dns) = fixture("dtf", "tc")?;
    running(&fx)?;
    in_pod(&fx, "tc", &["filter", "del", "dev", TAP, "ingress"])?;
    let (code, doc) = report(&fx, &[ID])?;
    only_failure(
        code,
        &doc,
        &format!("tc.filter.{TAP}>eth0"),
        &format!("tc filter add dev {TAP} parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev eth0"),
    )
}

#[test]
fn deleted_guest_route_fails_its_check() -> Result<()> {
    let (fx, _dns) = fixture("drr", "routed")?;
    running(&fx)?;
    in_pod(
        &fx,
        "ip",
        &["route", "del", &format!("{POD_IP}/32"), "table", "7547"],
    )?;
    let (code, doc) = report(&fx, &[ID])?;
    only_failure(
        code,
        &doc,
        "routed.route",
        &format!("ip route add {POD_IP}/32 dev {TAP} src 169.254.1.1 table 7547"),
    )
}

#[test]
fn guest_mtu_above_the_pod_interface_fails_its_check() -> Result<()> {
    let (fx, _dns) = fixture("dmt", "routed")?;
    fx.create(ID)?;
    in_pod(&fx, "ip", &["link", "set", "eth0", "mtu", "1400"])?;
    fx.start(ID)?;
    fx.wait_ready(ID)?;
    let (code, doc) = report(&fx, &[ID])?;
    only_failure(code, &doc, "guest.mtu", "recreate the container")?;
    ensure!(
        checks_with(&doc, "WARN") == ["tap.mtu"],
        "the tap keeps the MTU of create, which is a warning:\n{doc:#}"
    );
    Ok(())
}

fn signal(pid: i32, signal: nix::sys::signal::Signal) -> Result<()> {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
        .with_context(|| format!("signalling {pid}"))
}

#[test]
fn killed_vmm_fails_its_check() -> Result<()> {
    use nix::sys::signal::Signal;
    let (fx, _dns) = fixture("dkv", "routed")?;
    running(&fx)?;
    // Held still, the supervisor neither reaps the VMM nor tears the pod
    // network down: doctor sees the moment after the VMM died.
    let supervisor = fx.runtime.recorded_pid(ID, "supervisor")?;
    let vmm = fx.runtime.recorded_pid(ID, "vmm")?;
    signal(supervisor, Signal::SIGSTOP)?;
    let result = (|| {
        signal(vmm, Signal::SIGKILL)?;
        wait::poll(
            "the VMM to die",
            Duration::from_secs(5),
            Duration::from_millis(20),
            || {
                let stat = std::fs::read_to_string(format!("/proc/{vmm}/stat")).unwrap_or_default();
                Ok((stat.is_empty() || stat.contains(") Z ")).then_some(()))
            },
        )?;
        let (code, doc) = report(&fx, &[ID])?;
        only_failure(
            code,
            &doc,
            "runtime.vmm",
            "delete and recreate the container",
        )
    })();
    signal(supervisor, Signal::SIGCONT)?;
    result
}

/// Runs `ss -K` in the pod netns: the kernel destroys the sockets matching
/// `filter`, as an operator (or a crash of part of the supervisor) would.
fn destroy_sockets(fx: &Fixture, filter: &[&str]) -> Result<()> {
    let mut args = vec!["-K"];
    args.extend(filter);
    in_pod(fx, "ss", &args).map(drop)
}

#[test]
fn closed_relay_socket_fails_its_check() -> Result<()> {
    let (fx, _dns) = fixture("dcs", "routed")?;
    fx.bundle
        .edit(|c| c["annotations"]["ukrun.dev/dns-delivery"] = "relay".into())?;
    running(&fx)?;
    destroy_sockets(&fx, &["-a", "-u", "src", "169.254.1.1:53"])?;
    destroy_sockets(&fx, &["-l", "-t", "src", "169.254.1.1:53"])?;
    let (code, doc) = report(&fx, &[ID])?;
    only_failure(code, &doc, "dns.relay", "recreate the container")
}

#[test]
fn stopped_upstream_dns_server_fails_its_check() -> Result<()> {
    let (fx, dns) = fixture("dud", "routed")?;
    fx.bundle
        .edit(|c| c["annotations"]["ukrun.dev/dns-delivery"] = "relay".into())?;
    running(&fx)?;
    drop(dns);
    let (code, doc) = report(&fx, &[ID])?;
    only_failure(
        code,
        &doc,
        &format!("dns.upstream.{NODE_IP}"),
        "check the cluster DNS",
    )?;
    ensure!(
        checks_with(&doc, "PASS").contains(&"dns.relay.query.doctor-pod".to_owned()),
        "the relay still answers the pod's own name from its hosts file:\n{doc:#}"
    );
    Ok(())
}

#[test]
fn killed_forwarder_listener_fails_its_check() -> Result<()> {
    let (fx, _dns) = fixture("dfl", "routed")?;
    running(&fx)?;
    destroy_sockets(&fx, &["-l", "-t", "src", "[::1]:8080"])?;
    let (code, doc) = report(&fx, &[ID])?;
    only_failure(code, &doc, "localhost.::1", "recreate the container")?;
    ensure!(
        checks_with(&doc, "PASS").contains(&"localhost.connect.127.0.0.1:8080".to_owned()),
        "127.0.0.1 goes through the kernel, not the ::1 forwarder:\n{doc:#}"
    );
    Ok(())
}

/// Asserts a one-line error and exit code 2.
fn cannot_run(out: &Output, what: &str, says: &str) -> Result<()> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(2),
        "{what}: exit 2, got {:?}",
        out.status.code()
    );
    ensure!(
        stderr.lines().count() == 1 && stderr.contains(says),
        "{what}: one line saying {says:?}, got {stderr:?}"
    );
    ensure!(out.stdout.is_empty(), "{what}: no report");
    Ok(())
}

#[test]
fn doctor_that_cannot_run_exits_2_with_one_line() -> Result<()> {
    let (fx, _dns) = fixture("dcr", "routed")?;
    cannot_run(
        &doctor(&fx, &["nosuch"])?,
        "unknown id",
        "container nosuch does not exist",
    )?;
    cannot_run(
        &doctor(&fx, &["--netns", "/run/netns/ukrun-doctor-missing"])?,
        "missing netns",
        "cannot open network namespace /run/netns/ukrun-doctor-missing",
    )?;
    fx.create(ID)?;
    let out = fx.runtime.run(&["kill", ID, "KILL"])?;
    ensure!(out.status.success(), "{}", fx.runtime.last_error());
    wait::poll(
        "the container to stop",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || Ok((fx.runtime.state(ID)?["status"] == "stopped").then_some(())),
    )?;
    cannot_run(&doctor(&fx, &[ID])?, "stopped container", "is stopped")?;
    cannot_run(
        &doctor(&fx, &["--json", ID])?,
        "stopped container, --json",
        "is stopped",
    )
}

/// Removes a symlink, and the directories made for it (deepest first,
/// only while empty), when dropped.
struct ShimRoot {
    link: PathBuf,
    // Dropped after the link is gone.
    _made: MadeDirs,
}

impl ShimRoot {
    /// Links `/run/containerd/runc/NAMESPACE` to `target`, as a shim's
    /// `--root` for a containerd namespace.
    fn link(namespace: &str, target: &Path) -> Result<Self> {
        let base = Path::new("/run/containerd/runc");
        let root = ShimRoot {
            link: base.join(namespace),
            _made: MadeDirs::note(&[Path::new("/run/containerd"), base]),
        };
        std::fs::create_dir_all(base)?;
        std::os::unix::fs::symlink(target, &root.link)?;
        Ok(root)
    }
}

impl Drop for ShimRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.link);
    }
}

#[test]
fn doctor_without_root_finds_the_container_where_the_shim_keeps_it() -> Result<()> {
    let (fx, _dns) = fixture("dsr", "tc")?;
    let namespace = format!("ukrun-it-doctor-{}", std::process::id());
    let shim = ShimRoot::link(&namespace, &fx.runtime.dir.join("root"))?;
    let ukrun = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ukrun"))
            .env("UKRUN_CONFIG", fx.runtime.dir.join("ukrun.toml"))
            .args(args)
            .output()
    };
    let missing = ukrun(&["doctor", ID])?;
    cannot_run(
        &missing,
        "no container anywhere",
        "container g1 does not exist",
    )?;
    let said = String::from_utf8_lossy(&missing.stderr);
    ensure!(
        said.contains(&shim.link.display().to_string()) && said.contains("/run/ukrun"),
        "the error lists where doctor looked: {said}"
    );
    fx.create(ID)?;
    let out = ukrun(&["doctor", "--json", ID])?;
    let doc: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("no report: {}", String::from_utf8_lossy(&out.stderr)))?;
    ensure!(
        doc["container"] == ID && doc["root"] == shim.link.display().to_string(),
        "doctor names the shim's root it read: {doc:#}"
    );
    let table = ukrun(&["doctor", ID])?;
    let text = String::from_utf8_lossy(&table.stdout);
    ensure!(
        text.lines().last().is_some_and(
            |l| l.starts_with(&format!("container {ID} (root {})", shim.link.display()))
        ),
        "the table's last line names the root: {text}"
    );
    Ok(())
}

/// A validator for the JSON Schema keywords docs/doctor.schema.json uses
/// (type, const, enum, required, properties, additionalProperties, items,
/// minimum); any other keyword is reported, so the schema cannot grow
/// past what is checked.
mod schema {
    use serde_json::Value;

    const ANNOTATIONS: &[&str] = &["$schema", "$id", "title", "description"];

    /// Every way `doc` breaks `schema`, by JSON path.
    pub fn validate(schema: &Value, doc: &Value, path: &str) -> Vec<String> {
        let Some(rules) = schema.as_object() else {
            return vec![format!("{path}: schema is not an object")];
        };
        let mut problems = Vec::new();
        for (keyword, rule) in rules {
            let broken = match keyword.as_str() {
                k if ANNOTATIONS.contains(&k) => None,
                "type" => (!types(rule).iter().any(|t| has_type(doc, t)))
                    .then(|| format!("is not of type {rule}")),
                "const" => (doc != rule).then(|| format!("is not {rule}")),
                "enum" => (!rule.as_array().is_some_and(|a| a.contains(doc)))
                    .then(|| format!("is not one of {rule}")),
                "minimum" => (doc.as_f64() < rule.as_f64()).then(|| format!("is below {rule}")),
                "required" => rule
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .find(|k| doc.get(k).is_none())
                    .map(|k| format!("lacks {k}")),
                "additionalProperties" => doc.as_object().and_then(|o| {
                    o.keys()
                        .find(|k| rule == false && schema["properties"].get(k.as_str()).is_none())
                        .map(|k| format!("has unknown property {k}"))
                }),
                "properties" => {
                    for (key, sub) in rule.as_object().into_iter().flatten() {
                        if let Some(value) = doc.get(key) {
                            problems.extend(validate(sub, value, &format!("{path}.{key}")));
                        }
                    }
                    None
                }
                "items" => {
                    for (i, item) in doc.as_array().into_iter().flatten().enumerate() {
                        problems.extend(validate(rule, item, &format!("{path}[{i}]")));
                    }
                    None
                }
                other => Some(format!(
                    "uses keyword {other}, which this validator does not know"
                )),
            };
            problems.extend(broken.map(|b| format!("{path} {b}")));
        }
        problems
    }

    fn types(rule: &Value) -> Vec<&str> {
        match rule {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        }
    }

    fn has_type(doc: &Value, name: &str) -> bool {
        match name {
            "object" => doc.is_object(),
            "array" => doc.is_array(),
            "string" => doc.is_string(),
            "integer" => doc.is_i64() || doc.is_u64(),
            "number" => doc.is_number(),
            "boolean" => doc.is_boolean(),
            "null" => doc.is_null(),
            _ => false,
        }
    }

    #[test]
    fn the_validator_catches_what_the_schema_forbids() {
        let schema: Value =
            serde_json::from_str(include_str!("../docs/doctor.schema.json")).unwrap();
        let good = serde_json::json!({
            "schema": "ukrun-doctor/v1", "container": null, "root": null, "netns": "/n", "mode": "tc",
            "summary": {"pass": 1, "warn": 0, "fail": 0}, "exit_code": 0,
            "checks": [{"name": "a", "verdict": "PASS", "expected": "", "found": "", "hint": ""}]
        });
        assert_eq!(validate(&schema, &good, "$"), Vec::<String>::new());
        let mut bad = good.clone();
        bad["checks"][0]["verdict"] = "MAYBE".into();
        bad["summary"]["fail"] = (-1).into();
        bad["extra"] = 1.into();
        bad["mode"] = "bridge".into();
        let problems = validate(&schema, &bad, "$");
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}
