//! The DNS relay against fake upstreams on loopback (a service name, a TXT
//! record too big for UDP, NXDOMAIN for the rest; one upstream that never
//! answers, one that always fails): search expansion, hosts entries,
//! truncation and TCP, failover, the in-flight bound, bad input. Last, glibc's
//! own stub resolver (`getent`) through the relay on port 53 in a network
//! namespace of its own: it follows the relay's CNAME to the expanded name,
//! and for a table of names it gets from the relay what it gets itself with
//! the pod's resolv.conf and hosts file.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::{TcpStream, UdpSocket};
use ukrun::doctor::read::dns::answer_addresses as addresses;
use ukrun::net::dns_relay::{Relay, RelayConfig};
use ukrun_testbed::fake_dns::{
    query, read_message, write_frame, write_message, Mode, Upstream, BIG, SEARCH, SERVICE,
    SERVICE_IP,
};
use ukrun_testbed::topology::{Shape, Topology};

/// Bound on every wait, only so that a broken relay fails instead of hanging.
const HANG: Duration = Duration::from_secs(30);

// ---- the relay and its clients ---------------------------------------------

fn config(upstreams: &[&Upstream]) -> RelayConfig {
    RelayConfig {
        upstreams: upstreams.iter().map(|u| u.addr).collect(),
        search: SEARCH.iter().map(|s| s.to_string()).collect(),
        ndots: 5,
        timeout: Duration::from_secs(5),
        attempts: 2,
        apply_search: true,
        hosts: vec![
            ("myalias.example.com".into(), "10.1.2.3".parse().unwrap()),
            ("mypod".into(), "10.244.0.5".parse().unwrap()),
            ("mypod".into(), "fd00::5".parse().unwrap()),
        ],
        max_in_flight: 64,
    }
}

/// Starts a relay on a free loopback port; it stops with the test.
fn start(config: RelayConfig) -> SocketAddr {
    let relay = Relay::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = relay.local_addr();
    tokio::spawn(relay.serve(config));
    addr
}

/// A cluster DNS upstream and a relay in front of it, as configured above.
fn cluster() -> (Upstream, SocketAddr) {
    let upstream = Upstream::start(Ipv4Addr::LOCALHOST, Mode::Answer);
    let relay = start(config(&[&upstream]));
    (upstream, relay)
}

async fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

/// The next answer on `socket`, with its size on the wire.
async fn receive(socket: &UdpSocket) -> (Message, usize) {
    let mut buffer = vec![0u8; 65535];
    let length = tokio::time::timeout(HANG, socket.recv(&mut buffer))
        .await
        .expect("the relay answers")
        .unwrap();
    (Message::from_vec(&buffer[..length]).unwrap(), length)
}

/// Asks `relay` over UDP and checks the answer matches the question.
async fn ask_udp(relay: SocketAddr, query: &Message) -> (Message, usize) {
    let socket = client().await;
    socket
        .send_to(&query.to_vec().unwrap(), relay)
        .await
        .unwrap();
    let (answer, length) = receive(&socket).await;
    assert_eq!(answer.metadata.id, query.metadata.id);
    assert_eq!(answer.queries, query.queries, "the guest's own question");
    (answer, length)
}

async fn ask(relay: SocketAddr, name: &str, kind: RecordType) -> Message {
    ask_udp(relay, &query(7, name, kind, None)).await.0
}

async fn next_on(stream: &mut TcpStream) -> Option<Message> {
    tokio::time::timeout(HANG, read_message(stream))
        .await
        .expect("the relay answers or closes")
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

// ---- the tests ---------------------------------------------------------------

#[tokio::test]
async fn a_short_service_name_resolves_through_the_search_list() {
    let (upstream, relay) = cluster();

    let answer = ask(relay, "kubernetes.default", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        upstream.asked(),
        ["kubernetes.default.default.svc.cluster.local.", SERVICE],
        "search domains in order, stopping at the first with records"
    );
    let expanded = name(SERVICE);
    assert_eq!(answer.answers[0].name, name("kubernetes.default."));
    assert_eq!(
        answer.answers[0].data,
        RData::CNAME(CNAME(expanded.clone()))
    );
    assert_eq!(answer.answers[1].name, expanded);
    assert_eq!(addresses(&answer), [IpAddr::V4(SERVICE_IP)]);

    let nodata = ask(relay, "kubernetes.default", RecordType::AAAA).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(
        nodata.answers.is_empty(),
        "NODATA, not NXDOMAIN: {nodata:?}"
    );
}

#[tokio::test]
async fn a_fully_qualified_name_resolves_as_is() {
    let (upstream, relay) = cluster();

    let answer = ask(relay, SERVICE, RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answer.answers.len(), 1);
    assert_eq!(answer.answers[0].name, name(SERVICE));
    assert_eq!(addresses(&answer), [IpAddr::V4(SERVICE_IP)]);
    // The wire has no trailing dot: with ndots 5 the search list comes first.
    assert_eq!(upstream.asked().last().map(String::as_str), Some(SERVICE));
}

#[tokio::test]
async fn an_unknown_name_is_nxdomain_after_every_candidate() {
    let (upstream, relay) = cluster();

    let answer = ask(relay, "nosuchname", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    assert!(answer.answers.is_empty());
    assert_eq!(
        upstream.asked(),
        [
            "nosuchname.default.svc.cluster.local.",
            "nosuchname.svc.cluster.local.",
            "nosuchname.cluster.local.",
            "nosuchname.",
        ]
    );
}

#[tokio::test]
async fn hosts_entries_are_answered_by_the_relay_itself() {
    let (upstream, relay) = cluster();

    let alias = ask(relay, "MyAlias.Example.Com.", RecordType::A).await;
    assert_eq!(alias.metadata.response_code, ResponseCode::NoError);
    assert!(alias.metadata.authoritative);
    assert_eq!(addresses(&alias), ["10.1.2.3".parse::<IpAddr>().unwrap()]);
    let own = ask(relay, "mypod", RecordType::AAAA).await;
    assert_eq!(addresses(&own), ["fd00::5".parse::<IpAddr>().unwrap()]);
    let other_type = ask(relay, "myalias.example.com", RecordType::MX).await;
    assert_eq!(other_type.metadata.response_code, ResponseCode::NoError);
    assert!(other_type.answers.is_empty());
    assert!(upstream.asked().is_empty(), "hosts names never go upstream");
}

#[tokio::test]
async fn without_upstreams_only_hosts_names_are_answered() {
    let relay = start(config(&[]));
    let alias = ask(relay, "myalias.example.com", RecordType::A).await;
    assert_eq!(addresses(&alias), ["10.1.2.3".parse::<IpAddr>().unwrap()]);
    let other = ask(relay, SERVICE, RecordType::A).await;
    assert_eq!(other.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn a_big_answer_is_truncated_over_udp_and_whole_over_tcp() {
    let (_upstream, relay) = cluster();

    for edns in [None, Some(4096)] {
        let (cut, length) = ask_udp(relay, &query(9, BIG, RecordType::TXT, edns)).await;
        assert!(cut.metadata.truncation, "{cut:?}");
        assert!(cut.answers.is_empty());
        assert!(length <= if edns.is_some() { 1232 } else { 512 });
    }

    let mut stream = TcpStream::connect(relay).await.unwrap();
    let ask = query(10, BIG, RecordType::TXT, None);
    write_message(&mut stream, &ask).await;
    let whole = next_on(&mut stream).await.expect("an answer over TCP");
    assert_eq!(whole.metadata.id, 10);
    assert!(!whole.metadata.truncation);
    let RData::TXT(txt) = &whole.answers[0].data else {
        panic!("not TXT: {whole:?}");
    };
    assert_eq!(txt.txt_data.len(), 12);
}

#[tokio::test]
async fn tcp_serves_several_queries_per_connection_and_closes_on_garbage() {
    let (_upstream, relay) = cluster();

    let mut stream = TcpStream::connect(relay).await.unwrap();
    write_message(&mut stream, &query(1, SERVICE, RecordType::A, None)).await;
    write_message(
        &mut stream,
        &query(2, "myalias.example.com.", RecordType::A, None),
    )
    .await;
    let ids =
        [next_on(&mut stream).await, next_on(&mut stream).await].map(|m| m.unwrap().metadata.id);
    assert_eq!(ids, [1, 2]);
    write_frame(&mut stream, b"not dns").await;
    assert!(next_on(&mut stream).await.is_none(), "closed after garbage");
}

#[tokio::test]
async fn garbage_over_udp_is_ignored() {
    let (_upstream, relay) = cluster();

    let socket = client().await;
    socket.send_to(b"\x00\x01garbage", relay).await.unwrap();
    socket.send_to(&[], relay).await.unwrap();
    let real = query(3, SERVICE, RecordType::A, None);
    socket
        .send_to(&real.to_vec().unwrap(), relay)
        .await
        .unwrap();
    let (answer, _) = receive(&socket).await;
    assert_eq!(
        answer.metadata.id, 3,
        "the first answer is to the real query"
    );
}

#[tokio::test]
async fn a_silent_or_failing_upstream_is_skipped() {
    let silent = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    silent.set_nonblocking(true).unwrap();
    let failing = Upstream::start(Ipv4Addr::new(127, 0, 0, 3), Mode::ServFail);
    let live = Upstream::start(Ipv4Addr::new(127, 0, 0, 1), Mode::Answer);
    let mut cfg = config(&[&failing, &live]);
    cfg.upstreams.insert(0, silent.local_addr().unwrap());
    cfg.ndots = 1;
    cfg.timeout = Duration::from_millis(300);
    let relay = start(cfg);

    let answer = ask(relay, SERVICE, RecordType::A).await;
    assert_eq!(addresses(&answer), [IpAddr::V4(SERVICE_IP)]);
    assert!(
        silent.recv(&mut [0u8; 512]).is_ok(),
        "the silent one was asked first"
    );
    assert_eq!(failing.asked(), [SERVICE]);
    assert_eq!(live.asked(), [SERVICE]);

    let mut alone = config(&[]);
    alone.upstreams = vec![silent.local_addr().unwrap()];
    alone.timeout = Duration::from_millis(100);
    let dead_end = start(alone);
    let answer = ask(dead_end, SERVICE, RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn queries_past_the_in_flight_bound_get_servfail_and_the_rest_succeed() {
    const BOUND: u16 = 3;
    const SENT: u16 = 8;
    let upstream = Upstream::start(Ipv4Addr::new(127, 0, 0, 1), Mode::Answer);
    upstream.gate(false);
    let mut cfg = config(&[&upstream]);
    cfg.max_in_flight = BOUND.into();
    cfg.ndots = 1;
    cfg.timeout = HANG;
    let relay = start(cfg);

    let socket = client().await;
    for id in 1..=SENT {
        let ask = query(id, SERVICE, RecordType::A, None);
        socket.send_to(&ask.to_vec().unwrap(), relay).await.unwrap();
    }
    let mut refused = HashSet::new();
    while refused.len() < usize::from(SENT - BOUND) {
        let (answer, _) = receive(&socket).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
        refused.insert(answer.metadata.id);
    }
    // Hosts names need no slot.
    let alias = ask(relay, "myalias.example.com", RecordType::A).await;
    assert_eq!(alias.metadata.response_code, ResponseCode::NoError);

    upstream.gate(true);
    let mut served = HashSet::new();
    while served.len() < usize::from(BOUND) {
        let (answer, _) = receive(&socket).await;
        assert_eq!(addresses(&answer), [IpAddr::V4(SERVICE_IP)], "{answer:?}");
        served.insert(answer.metadata.id);
    }
    assert!(served.is_disjoint(&refused));
}

/// glibc's resolver, pointed at the relay by a resolv.conf without a search
/// list, resolves a short service name the relay expands, and reports the
/// expanded name as canonical: it follows the relay's CNAME. Everything runs
/// on a thread inside a fresh netns (the relay opens its upstream sockets
/// where it runs), with the relay on port 53 there.
#[test]
fn glibc_follows_the_cname_to_the_expanded_name() {
    let topo = Topology::new("dnsrly", Shape::Empty).unwrap();
    let pod = topo.pod_netns();
    let unshare = pod.command("unshare");
    let (stdout, asked) = pod
        .within(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(getent_through_relay(unshare))
        })
        .unwrap();
    // `IP  canonical-name  aliases…`
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(
        fields,
        [
            "10.96.0.1",
            "kubernetes.default.svc.cluster.local",
            "kubernetes.default"
        ],
        "{stdout}"
    );
    assert!(asked.contains(&SERVICE.to_string()), "{asked:?}");
}

/// Runs `getent hosts kubernetes.default` with a resolv.conf that names
/// only the relay; returns its output and what the upstream was asked.
async fn getent_through_relay(
    unshare: std::process::Command,
) -> anyhow::Result<(String, Vec<String>)> {
    let upstream = Upstream::start(Ipv4Addr::LOCALHOST, Mode::Answer);
    let relay = Relay::bind("127.0.0.1:53".parse()?)?;
    tokio::spawn(relay.serve(config(&[&upstream])));
    let etc = Etc {
        resolv: "nameserver 127.0.0.1\noptions ndots:1 timeout:5 attempts:1\n".into(),
        hosts: String::new(),
    };
    let stdout = etc
        .run(unshare, "exec getent hosts kubernetes.default", &[])
        .await?;
    Ok((stdout, upstream.asked()))
}

/// The resolver files a glibc program sees.
struct Etc {
    /// /etc/resolv.conf.
    resolv: String,
    /// /etc/hosts.
    hosts: String,
}

impl Etc {
    /// Runs `sh -c script sh args…` through `unshare` (a command that
    /// enters the test's netns) in private mount and UTS namespaces: a tmpfs
    /// on /tmp holds these files, bind-mounted over /etc's, with
    /// nsswitch.conf `hosts: files dns`, and the hostname has no domain
    /// (glibc would search it when resolv.conf has no search list). All of
    /// it goes with the process. Returns stdout; a non-zero exit is an error.
    async fn run(
        &self,
        mut unshare: std::process::Command,
        script: &str,
        args: &[&str],
    ) -> anyhow::Result<String> {
        let setup = "set -e
            mount -t tmpfs tmpfs /tmp
            printf '%s' \"$RESOLV\" > /tmp/resolv.conf
            printf '%s' \"$HOSTS\" > /tmp/hosts
            echo 'hosts: files dns' > /tmp/nsswitch.conf
            for file in resolv.conf hosts nsswitch.conf; do
                mount --bind /tmp/$file /etc/$file
            done
            hostname guest
            set +e
            ";
        unshare
            .args(["--mount", "--uts", "--propagation", "private", "sh", "-c"])
            .arg(format!("{setup}{script}"))
            .arg("sh")
            .args(args)
            .env("RESOLV", &self.resolv)
            .env("HOSTS", &self.hosts);
        for variable in ["LOCALDOMAIN", "RES_OPTIONS", "HOSTALIASES"] {
            unshare.env_remove(variable);
        }
        let mut child = tokio::process::Command::from(unshare);
        let output = tokio::time::timeout(HANG, child.kill_on_drop(true).output()).await??;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        anyhow::ensure!(
            output.status.success(),
            "{script} failed ({}): {}{stdout}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(stdout)
    }
}

// ---- glibc's answers against the relay's --------------------------------------

/// The cluster zone of the comparison: names and addresses (the
/// documentation ranges for the outside world).
const ZONE: [(&str, &str); 14] = [
    (SERVICE, "10.96.0.1"),
    (SERVICE, "fd00::1"),
    ("web.svc.cluster.local", "10.96.0.2"),
    ("db.cluster.local", "10.96.0.3"),
    ("v6.svc.cluster.local", "fd00::6"),
    ("ext.example.org", "192.0.2.10"),
    ("ext.example.org", "2001:db8::10"),
    ("p.q.r.s.t", "10.96.1.1"),
    ("p.q.r.s.t.default.svc.cluster.local", "10.96.1.2"),
    ("a.b.c.d.e.f", "10.96.2.1"),
    ("a.b.c.d.e.f.default.svc.cluster.local", "10.96.2.2"),
    ("u.v.w.x.y.z.cluster.local", "10.96.3.3"),
    ("a.b.c.d.e.f.g", "10.96.4.1"),
    ("a.b.c.d.e.f.g.default.svc.cluster.local", "10.96.4.2"),
];

/// A hosts entry whose name is a search expansion of `cache`.
const CACHE_ALIAS: (&str, &str) = ("cache.svc.cluster.local", "10.1.2.4");

/// Whether glibc gets the same from the relay as on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The same addresses, or not found both.
    Same,
    /// A known difference, and why.
    Differs(&'static str),
}

/// Name as typed, what it covers, whether glibc finds it on its own, and
/// whether the relay gives the same.
const TABLE: [(&str, &str, bool, Expect); 22] = [
    (
        "kubernetes.default",
        "short: 1st search domain, A+AAAA",
        true,
        Expect::Same,
    ),
    ("web", "2nd search domain", true, Expect::Same),
    ("db", "3rd search domain", true, Expect::Same),
    ("v6", "AAAA only", true, Expect::Same),
    (SERVICE, "absolute, trailing dot", true, Expect::Same),
    (
        "kubernetes.default.svc.cluster.local",
        "absolute, below ndots",
        true,
        Expect::Same,
    ),
    (
        "ext.example.org",
        "outside, searched then as is",
        true,
        Expect::Same,
    ),
    (
        "ext.example.org.",
        "outside, trailing dot",
        true,
        Expect::Same,
    ),
    (
        "p.q.r.s.t",
        "4 dots, below ndots: search first",
        true,
        Expect::Same,
    ),
    (
        "a.b.c.d.e.f",
        "5 dots, at ndots: as is first",
        true,
        Expect::Same,
    ),
    ("a.b.c.d.e.f.", "at ndots, trailing dot", true, Expect::Same),
    (
        "u.v.w.x.y.z",
        "at ndots, NXDOMAIN as is, 3rd domain",
        true,
        Expect::Same,
    ),
    (
        "a.b.c.d.e.f.g",
        "6 dots, above ndots: as is first",
        true,
        Expect::Same,
    ),
    ("myalias.example.com", "hostAlias", true, Expect::Same),
    (
        "MyAlias.Example.Com",
        "hostAlias, other case",
        true,
        Expect::Same,
    ),
    (
        "mypod",
        "hosts: the pod's name, IPv4+IPv6",
        true,
        Expect::Same,
    ),
    ("nosuchname", "NXDOMAIN, short", false, Expect::Same),
    (
        "nosuch.example.org",
        "NXDOMAIN, dotted",
        false,
        Expect::Same,
    ),
    (
        "nosuch.example.org.",
        "NXDOMAIN, trailing dot",
        false,
        Expect::Same,
    ),
    (
        "p.q.r.s.t.",
        "below ndots, trailing dot",
        true,
        Expect::Differs(
            "the trailing dot never reaches the wire: the relay searches \
             p.q.r.s.t as if typed without it and finds the 1st domain's",
        ),
    ),
    (
        "myalias.example.com.",
        "hostAlias, trailing dot",
        false,
        Expect::Differs(
            "glibc's files backend does not strip the dot, so no hosts line \
             matches; the relay never sees the dot and answers the alias",
        ),
    ),
    (
        "cache",
        "hosts name = a search expansion, not matched",
        false,
        Expect::Same,
    ),
];

/// What `getent ahosts` printed for one name: its exit status and the
/// addresses.
#[derive(Debug, PartialEq, Eq)]
struct Lookup {
    status: i32,
    addresses: BTreeSet<IpAddr>,
}

impl fmt::Display for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.status != 0 {
            return write!(f, "not found ({})", self.status);
        }
        let addresses: Vec<String> = self.addresses.iter().map(IpAddr::to_string).collect();
        write!(f, "{}", addresses.join(" "))
    }
}

/// For every name of [`TABLE`], glibc's `getent ahosts` with the pod's own
/// resolv.conf (search list, ndots 5, the fake cluster DNS as nameserver)
/// and hosts file gets the same as `getent ahosts` with a resolv.conf that
/// names only the relay (no search list) and an empty hosts file, the
/// relay applying the pod's search list, ndots and hosts entries; except
/// where the table says why not. Both run in one fresh netns (only its
/// loopback, so glibc asks for A and AAAA), each in private mount and UTS
/// namespaces of its own; the fake cluster DNS listens on 127.0.0.2:53,
/// the relay on 127.0.0.1:53.
#[test]
fn glibc_gets_from_the_relay_what_it_gets_with_the_pods_resolv_conf() {
    let topo = Topology::new("dnstbl", Shape::Empty).unwrap();
    let pod = topo.pod_netns();
    let commands = [pod.command("unshare"), pod.command("unshare")];
    let (direct, relayed) = pod
        .within(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(getent_both_ways(commands))
        })
        .unwrap();

    let mut mismatches = Vec::new();
    println!(
        "{:<38} {:<38} {:<30} {:<30}",
        "name", "case", "glibc with the pod's files", "glibc through the relay"
    );
    for (((name, case, found, expect), direct), relayed) in TABLE.iter().zip(&direct).zip(&relayed)
    {
        let odd_status = [direct, relayed]
            .iter()
            .any(|lookup| ![0, 2].contains(&lookup.status));
        let verdict = match (expect, direct == relayed) {
            _ if odd_status => "UNEXPECTED: getent failed otherwise".to_string(),
            _ if (direct.status == 0) != *found => "UNEXPECTED: glibc on its own".to_string(),
            (Expect::Same, true) => "same".to_string(),
            (Expect::Differs(why), false) => format!("differs, as known: {why}"),
            (_, same) => format!("UNEXPECTED (same: {same})"),
        };
        if verdict.starts_with("UNEXPECTED") {
            mismatches.push(*name);
        }
        println!(
            "{name:<38} {case:<38} {:<30} {:<30} {verdict}",
            direct.to_string(),
            relayed.to_string()
        );
    }
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

/// Starts the zone and the relay, then runs getent for every name of
/// [`TABLE`] with the pod's files and through the relay.
async fn getent_both_ways(
    [direct, relayed]: [std::process::Command; 2],
) -> anyhow::Result<(Vec<Lookup>, Vec<Lookup>)> {
    let zone: Vec<(&str, IpAddr)> = ZONE
        .iter()
        .map(|(name, ip)| Ok((*name, ip.parse()?)))
        .collect::<anyhow::Result<_>>()?;
    let upstream = Upstream::start_zone("127.0.0.2:53".parse()?, &zone);
    let relay = Relay::bind("127.0.0.1:53".parse()?)?;
    let mut cfg = config(&[&upstream]);
    cfg.hosts
        .push((CACHE_ALIAS.0.into(), CACHE_ALIAS.1.parse()?));
    let options = format!("options ndots:{} timeout:5 attempts:1\n", cfg.ndots);
    let pods = Etc {
        resolv: format!(
            "search {}\nnameserver {}\n{options}",
            cfg.search.join(" "),
            upstream.addr.ip()
        ),
        hosts: cfg
            .hosts
            .iter()
            .map(|(name, ip)| format!("{ip} {name}\n"))
            .collect(),
    };
    let guests = Etc {
        resolv: format!(
            "nameserver {}\noptions timeout:5 attempts:1\n",
            relay.local_addr().ip()
        ),
        hosts: String::new(),
    };
    tokio::spawn(relay.serve(cfg));
    let script = "for name; do getent ahosts \"$name\"; echo \"@@ status $?\"; done";
    let names: Vec<&str> = TABLE.iter().map(|row| row.0).collect();
    let direct = parse_lookups(&pods.run(direct, script, &names).await?)?;
    let relayed = parse_lookups(&guests.run(relayed, script, &names).await?)?;
    anyhow::ensure!(direct.len() == names.len() && relayed.len() == names.len());
    Ok((direct, relayed))
}

/// The lookups in the output of the loop above: address lines, each
/// lookup closed by its `@@ status N` line.
fn parse_lookups(stdout: &str) -> anyhow::Result<Vec<Lookup>> {
    let mut lookups = Vec::new();
    let mut addresses = BTreeSet::new();
    for line in stdout.lines() {
        if let Some(status) = line.strip_prefix("@@ status ") {
            let addresses = std::mem::take(&mut addresses);
            lookups.push(Lookup {
                status: status.parse()?,
                addresses,
            });
        } else if let Some(address) = line.split_whitespace().next() {
            addresses.insert(address.parse()?);
        }
    }
    Ok(lookups)
}
