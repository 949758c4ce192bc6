//! libnftables keeps one context per network namespace in a process (its
//! netlink socket is opened where the context is made, and kept open). A
//! command must still act in the calling thread's namespace, whichever
//! namespaces the process used before and in whatever order, and an error
//! must not leak into the next command's message.

use anyhow::{ensure, Result};
use ukrun::net::nft::{self, NftError};
use ukrun_testbed::veth_pods::NamedNetns;

/// The tables `ns` holds, as nft lists them.
fn tables(ns: &NamedNetns) -> Result<String> {
    ns.netns().run("nft", &["list", "tables"])
}

/// Loads `ruleset` from a thread inside `ns`.
fn load_in(ns: &NamedNetns, ruleset: &'static str) -> Result<()> {
    ns.netns().within(move || Ok(nft::load(ruleset)?))
}

#[test]
fn commands_act_in_the_calling_threads_namespace_in_any_order() -> Result<()> {
    let tag = std::process::id();
    let a = NamedNetns::add(format!("uknft{tag}a"))?;
    let b = NamedNetns::add(format!("uknft{tag}b"))?;
    load_in(&a, "add table ip ukrun_first")?;
    load_in(&b, "add table ip ukrun_second")?;
    load_in(&a, "add table ip ukrun_third")?;
    let (in_a, in_b) = (tables(&a)?, tables(&b)?);
    ensure!(
        in_a.contains("ukrun_first")
            && in_a.contains("ukrun_third")
            && !in_a.contains("ukrun_second"),
        "namespace a holds {in_a:?}"
    );
    ensure!(
        in_b.contains("ukrun_second")
            && !in_b.contains("ukrun_first")
            && !in_b.contains("ukrun_third"),
        "namespace b holds {in_b:?}"
    );
    b.netns()
        .within(|| Ok(nft::delete_table("ukrun_second")?))?;
    ensure!(
        !tables(&b)?.contains("ukrun_second"),
        "the table was not deleted"
    );
    Ok(())
}

#[test]
fn an_error_is_the_failed_commands_own_and_the_context_works_after_it() -> Result<()> {
    let ns = NamedNetns::add(format!("uknft{}e", std::process::id()))?;
    let refused = ns
        .netns()
        .within(|| Ok(nft::load("add chain ip ukrun_missing c")));
    match refused? {
        Err(NftError::Failed(message)) => ensure!(
            message.contains("No such file or directory"),
            "unexpected message {message:?}"
        ),
        other => anyhow::bail!("a chain in a missing table was {other:?}"),
    }
    let second = ns
        .netns()
        .within(|| Ok(nft::load("add table ip ukrun_after; add chain ip ukrun_after c; add chain ip ukrun_after c { bogus }")));
    match second? {
        Err(NftError::Failed(message)) => ensure!(
            !message.contains("No such file or directory"),
            "the first error's message came back: {message:?}"
        ),
        other => anyhow::bail!("a malformed chain was {other:?}"),
    }
    load_in(&ns, "add table ip ukrun_after")?;
    ensure!(
        tables(&ns)?.contains("ukrun_after"),
        "the context no longer works"
    );
    Ok(())
}
