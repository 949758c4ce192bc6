//! What the Linux test guest (testbed/guest) answers about itself on its
//! HTTP port, through the CGI programs its init installs: its hostname,
//! its DNS and `/etc/hosts` lookups, its pod files, and what it fetches.
//! Unlike its boot probes ([`crate::probes`]), which need the kernel
//! command line, these need nothing from the pod: a kubelet pod's guest is
//! asked like the Unikraft `nettest` ([`crate::nettest`]).

use anyhow::{ensure, Context, Result};

use crate::guest::HTTP_PORT;
use crate::guest_http::GuestHttp;
use crate::netns::Netns;

/// The Linux test guest at a pod IP.
pub struct GuestAnswers {
    http: GuestHttp,
}

impl GuestAnswers {
    /// The guest at `ip` as seen from `netns`.
    pub fn at(netns: Netns, ip: &str) -> Result<Self> {
        Ok(GuestAnswers {
            http: GuestHttp::at(netns, ip, HTTP_PORT)?,
        })
    }

    /// The guest's hostname.
    pub fn hostname(&self) -> Result<String> {
        self.line("hostname", "", "hostname=")
    }

    /// The IPv4 addresses (comma-separated) or `FAILED` that the guest's
    /// DNS resolver (busybox `nslookup` with the guest's resolv.conf: its
    /// search list and `ndots`) finds for `name`.
    pub fn nslookup(&self, name: &str) -> Result<String> {
        self.line("nslookup", name, &format!("nslookup {name}="))
    }

    /// The first address the guest's `/etc/hosts` gives `name`, or
    /// `FAILED`.
    pub fn hosts(&self, name: &str) -> Result<String> {
        self.line("hosts", name, &format!("hosts {name}="))
    }

    /// The guest's `/etc/resolv.conf`, `/etc/hosts` or `/etc/hostname`.
    pub fn file(&self, path: &str) -> Result<String> {
        let body = self.http.get(&format!("/cgi-bin/file?{path}"))?;
        let text = String::from_utf8_lossy(&body).into_owned();
        ensure!(text != "FAILED\n", "the guest has no {path}");
        Ok(text)
    }

    /// What the guest gets from `url` (`http://IP:PORT/...`).
    pub fn fetch(&self, url: &str) -> Result<String> {
        let body = self.http.get(&format!("/cgi-bin/fetch?{url}"))?;
        let text = String::from_utf8_lossy(&body).into_owned();
        ensure!(text != "FAILED\n", "the guest could not fetch {url}");
        Ok(text)
    }

    /// The answer of CGI program `program` to `query`, without `prefix`.
    fn line(&self, program: &str, query: &str, prefix: &str) -> Result<String> {
        let text = self.http.text(&format!("/cgi-bin/{program}?{query}"))?;
        text.strip_prefix(prefix)
            .map(str::to_owned)
            .with_context(|| format!("GET /cgi-bin/{program}?{query} answered {text:?}"))
    }
}
