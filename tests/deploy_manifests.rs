//! deploy/ kept consistent with the programs it ships: the RuntimeClass
//! names ukrun-deploy's handler, selects the label entrypoint.sh sets and
//! reserves the VMM overhead ukrun's cgroup allows under TCG; the
//! DaemonSet gives entrypoint.sh what it needs (the host's `/` where it
//! passes `--host-root`, hostPID and privilege for `nsenter --target 1`,
//! a service account that may patch nodes); the Dockerfile puts the
//! programs entrypoint.sh calls where it calls them. No root needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use ukrun::config::JailConfig;
use yaml_rust2::{Yaml, YamlLoader};

/// A file of deploy/, read.
fn deploy_file(name: &str) -> Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// The YAML documents of deploy/`name`.
fn manifests(name: &str) -> Result<Vec<Yaml>> {
    YamlLoader::load_from_str(&deploy_file(name)?).with_context(|| format!("parsing {name}"))
}

/// The document of `kind` in `docs`.
fn of_kind<'a>(docs: &'a [Yaml], kind: &str) -> Result<&'a Yaml> {
    docs.iter()
        .find(|doc| doc["kind"].as_str() == Some(kind))
        .with_context(|| format!("no {kind}"))
}

/// The strings of a YAML sequence (none when it is not one).
fn strings(list: &Yaml) -> Vec<&str> {
    list.as_vec()
        .map(|items| items.iter().filter_map(Yaml::as_str).collect())
        .unwrap_or_default()
}

/// The word after each `flag` in `text` (`--host-root /host` → `/host`).
fn values_of<'a>(text: &'a str, flag: &str) -> Vec<&'a str> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter(|pair| pair[0] == flag)
        .map(|pair| pair[1].trim_matches('"'))
        .collect()
}

/// The default of `ukrun-deploy install`'s option `flag`, from its help.
fn deploy_default(flag: &str) -> Result<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ukrun-deploy"))
        .args(["install", "--help"])
        .output()?;
    let help = String::from_utf8(out.stdout)?;
    let (_, after) = help
        .split_once(&format!("{flag} <"))
        .with_context(|| format!("ukrun-deploy install has no {flag}:\n{help}"))?;
    let (_, default) = after
        .split_once("[default: ")
        .with_context(|| format!("{flag} has no default"))?;
    Ok(default.split(']').next().unwrap_or("").to_owned())
}

/// What the Dockerfile's `COPY` lines put into the image: image path →
/// source path in the build context.
fn image_files(dockerfile: &str) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    for line in dockerfile.lines() {
        let Some(args) = line.strip_prefix("COPY ") else {
            continue;
        };
        let words: Vec<&str> = args.split_whitespace().collect();
        let Some((dest, sources)) = words.split_last() else {
            continue;
        };
        for source in sources {
            let target = match dest.strip_suffix('/') {
                Some(dir) => Path::new(dir).join(Path::new(source).file_name().unwrap_or_default()),
                None => PathBuf::from(dest),
            };
            files.insert(target, (*source).to_owned());
        }
    }
    files
}

#[test]
fn runtime_class_matches_the_installer_and_ukrun() -> Result<()> {
    let class = manifests("runtimeclass.yaml")?;
    let class = of_kind(&class, "RuntimeClass")?;
    let handler = class["handler"].as_str().context("no handler")?;
    ensure!(
        handler == deploy_default("--handler")?,
        "RuntimeClass handler {handler:?} is not ukrun-deploy's default handler"
    );

    let entrypoint = deploy_file("entrypoint.sh")?;
    let label = entrypoint
        .lines()
        .find_map(|line| line.strip_prefix("label="))
        .context("entrypoint.sh sets no label=")?;
    let selector = class["scheduling"]["nodeSelector"]
        .as_hash()
        .context("no scheduling.nodeSelector")?;
    ensure!(
        selector.len() == 1,
        "nodeSelector asks for more than the label"
    );
    let (key, value) = selector.iter().next().context("an empty nodeSelector")?;
    let value = value
        .as_str()
        .context("a nodeSelector value that is no string")?;
    ensure!(
        key.as_str() == Some(label) && entrypoint.contains(&format!("label '\"{value}\"'")),
        "nodeSelector {key:?}={value:?} is not the label entrypoint.sh sets ({label})"
    );

    let memory = class["overhead"]["podFixed"]["memory"]
        .as_str()
        .context("no overhead.podFixed.memory")?;
    let mib: u64 = memory
        .strip_suffix("Mi")
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("overhead memory {memory:?} is not in Mi"))?;
    let allowed = JailConfig::default().tcg_overhead_mib;
    ensure!(
        mib == allowed,
        "overhead.podFixed.memory {memory} is not [jail] tcg_overhead_mib's default ({allowed} MiB)"
    );
    Ok(())
}

#[test]
fn daemon_set_gives_the_entrypoint_what_it_uses() -> Result<()> {
    let docs = manifests("ukrun-deploy.yaml")?;
    let pod = &of_kind(&docs, "DaemonSet")?["spec"]["template"]["spec"];
    let entrypoint = deploy_file("entrypoint.sh")?;

    let host_volume = pod["volumes"]
        .as_vec()
        .into_iter()
        .flatten()
        .find(|volume| volume["hostPath"]["path"].as_str() == Some("/"))
        .and_then(|volume| volume["name"].as_str())
        .context("no volume of the host's /")?;
    let container = &pod["containers"][0];
    let mount = container["volumeMounts"]
        .as_vec()
        .into_iter()
        .flatten()
        .find(|mount| mount["name"].as_str() == Some(host_volume))
        .and_then(|mount| mount["mountPath"].as_str())
        .context("the host's / is not mounted")?;
    let host_roots = values_of(&entrypoint, "--host-root");
    ensure!(
        !host_roots.is_empty() && host_roots.iter().all(|root| *root == mount),
        "entrypoint.sh passes --host-root {host_roots:?}, the host's / is at {mount}"
    );

    ensure!(
        entrypoint.contains("nsenter --target 1"),
        "entrypoint.sh no longer enters PID 1's namespaces: revisit hostPID and privileged"
    );
    ensure!(pod["hostPID"].as_bool() == Some(true), "no hostPID");
    ensure!(
        container["securityContext"]["privileged"].as_bool() == Some(true),
        "not privileged"
    );
    ensure!(
        container["env"]
            .as_vec()
            .into_iter()
            .flatten()
            .any(|var| var["name"].as_str() == Some("NODE_NAME")
                && var["valueFrom"]["fieldRef"]["fieldPath"].as_str() == Some("spec.nodeName")),
        "entrypoint.sh needs NODE_NAME from spec.nodeName"
    );

    let account = pod["serviceAccountName"].as_str().context("no account")?;
    let binding = of_kind(&docs, "ClusterRoleBinding")?;
    ensure!(
        binding["subjects"][0]["name"].as_str() == Some(account),
        "the ClusterRoleBinding is not for {account}"
    );
    let role_name = binding["roleRef"]["name"].as_str();
    let role = of_kind(&docs, "ClusterRole")?;
    ensure!(role["metadata"]["name"].as_str() == role_name, "roleRef");
    let may_patch_nodes = role["rules"].as_vec().into_iter().flatten().any(|rule| {
        strings(&rule["resources"]).contains(&"nodes") && strings(&rule["verbs"]).contains(&"patch")
    });
    ensure!(may_patch_nodes, "entrypoint.sh patches its node's label");
    Ok(())
}

#[test]
fn image_has_the_programs_the_entrypoint_calls() -> Result<()> {
    let dockerfile = deploy_file("Dockerfile")?;
    let entrypoint = deploy_file("entrypoint.sh")?;
    let files = image_files(&dockerfile);
    let bin = Path::new("/usr/local/bin");
    let release = |exe: &str| {
        let name = Path::new(exe).file_name().unwrap_or_default();
        Path::new("target/release").join(name).display().to_string()
    };
    let ukrun = release(env!("CARGO_BIN_EXE_ukrun"));
    let deploy = release(env!("CARGO_BIN_EXE_ukrun-deploy"));
    let ukrun_in_image = values_of(&entrypoint, "--ukrun");
    ensure!(
        ukrun_in_image.len() == 1 && files.get(Path::new(ukrun_in_image[0])) == Some(&ukrun),
        "entrypoint.sh installs --ukrun {ukrun_in_image:?}, the image has {files:?}"
    );
    ensure!(
        entrypoint.contains("ukrun-deploy install")
            && files.get(&bin.join("ukrun-deploy")) == Some(&deploy),
        "entrypoint.sh calls ukrun-deploy from PATH, the image has {files:?}"
    );
    let entry = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("ENTRYPOINT [\""))
        .and_then(|rest| rest.split('"').next())
        .context("no ENTRYPOINT [\"…\"]")?;
    ensure!(
        files.get(Path::new(entry)).map(String::as_str) == Some("deploy/entrypoint.sh"),
        "the ENTRYPOINT {entry} is not deploy/entrypoint.sh"
    );
    for (program, package) in [("curl", "curl"), ("nsenter", "util-linux")] {
        if entrypoint.contains(program) {
            ensure!(
                dockerfile
                    .lines()
                    .any(|line| line.contains("apt-get install")
                        && line.split_whitespace().any(|w| w == package)),
                "entrypoint.sh calls {program}, the Dockerfile does not install {package}"
            );
        }
    }
    Ok(())
}

#[test]
fn entrypoint_is_valid_sh() -> Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/entrypoint.sh");
    let out = Command::new("sh").arg("-n").arg(&path).output()?;
    if !out.status.success() {
        bail!(
            "sh -n {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
