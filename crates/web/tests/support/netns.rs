//! A network namespace for WebRTC tests. Chromium's WebRTC ignores loopback
//! interfaces, so the browsers and Dasan run inside a namespace the test
//! makes: a veth pair with one end moved in carrying a private address
//! (`10.213.0.2/24`), both ends and `lo` up. The outer end has no address,
//! so nothing inside is routed anywhere: no packet leaves the namespace.
//! Needs root (`ip netns`); [`Namespace::create`] says why when it cannot.
#![allow(dead_code)]

use std::{
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

/// The address inside every namespace.
pub const ADDRESS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 213, 0, 2);

pub struct Namespace {
    pub name: String,
    outer: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl Namespace {
    pub fn create() -> Result<Namespace, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id() % 100_000;
        let name = format!("dasan-{pid}-{n}");
        // Interface names are at most 15 bytes.
        let outer = format!("dv{pid}x{n}");
        let inner = format!("dv{pid}y{n}");
        let namespace = Namespace {
            name: name.clone(),
            outer: outer.clone(),
        };
        ip(&["netns", "add", &name])?;
        ip(&[
            "link", "add", &outer, "type", "veth", "peer", "name", &inner,
        ])?;
        ip(&["link", "set", &inner, "netns", &name])?;
        ip(&["link", "set", &outer, "up"])?;
        let address = format!("{ADDRESS}/24");
        for args in [
            vec!["addr", "add", address.as_str(), "dev", inner.as_str()],
            vec!["link", "set", inner.as_str(), "up"],
            vec!["link", "set", "lo", "up"],
        ] {
            let mut full = vec!["-n", name.as_str()];
            full.extend(args);
            ip(&full)?;
        }
        Ok(namespace)
    }

    /// Moves the calling thread into the namespace: sockets it opens and
    /// threads and processes it starts afterwards live there.
    pub fn enter(&self) -> Result<(), String> {
        let file = std::fs::File::open(format!("/run/netns/{}", self.name))
            .map_err(|e| format!("open the namespace: {e}"))?;
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("setns: {e}"))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace deletes the inner end and so the pair.
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.outer]);
    }
}
