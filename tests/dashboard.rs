//! `nasforge dashboard`: the live report on 127.0.0.1, checked in
//! headless Chromium (Debian's `chromium`, which `.ci/run` installs): the
//! page loads, shows the journal's current trial count, follows new
//! trials, and its screenshot is written to `target/dashboard.png`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Chromium, or a failure saying how to get it: this test must not pass
/// by skipping.
fn chromium() -> &'static str {
    let found = Command::new("chromium").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "chromium is missing: this test renders the dashboard in headless Chromium; `apt-get install chromium` (Debian) installs it, as .ci/run does");
    "chromium"
}

fn headless(args: &[&str]) -> String {
    let out = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", std::env::temp_dir().join(format!("nasforge-chromium-{}", std::process::id())).display()))
        .args(args)
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn get(addr: &str, path: &str) -> String {
    get_as(addr, addr, path)
}

/// The response body to a GET of `path` that says `Host: host`.
fn get_as(addr: &str, host: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn search(file: &Path, seed: &str, journal: &Path) {
    let out = common::nasforge(&["run", file.to_str().unwrap(), "--seed", seed, "--journal", journal.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_dashboard_serves_the_live_report_on_loopback_and_follows_new_trials() {
    chromium();
    let dir = tempfile::tempdir().unwrap();
    let file = common::nb201_experiment(dir.path(), "name = \"regularized-evolution\"\npopulation = 10\nsample-size = 5", 40);
    let journal = dir.path().join("journal.sqlite");
    search(&file, "1", &journal);

    let mut child = Command::new(env!("CARGO_BIN_EXE_nasforge"))
        .args(["dashboard", journal.to_str().unwrap(), "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _server = Killed(child);
    let url = line.split_whitespace().nth(1).expect("dashboard: URL ...").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "binds the loopback interface by default: {line}");
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_owned();

    let state = get(&addr, "/state");
    assert_eq!(state, "{\"trials\":40,\"steps\":0,\"experiments\":1}");
    let dom = headless(&["--dump-dom", &url]);
    assert!(dom.contains("<span id=\"trial-count\">40</span>"), "the page shows the trial count");
    assert!(dom.contains("Best-so-far validation score") && dom.contains("fetch('/state')"), "the report, live");
    // The page reloads when /state differs from the state it shows.
    assert!(dom.contains(&format!("const shown={}", serde_json::Value::String(state))), "the poller compares with the state the page was rendered from");
    // A page from elsewhere whose name resolves to 127.0.0.1 is refused.
    let port = addr.rsplit(':').next().unwrap();
    assert!(get_as(&addr, &format!("rebound.example:{port}"), "/state").contains("127.0.0.1 only"));

    // A second search lands in the same journal: the next load shows it.
    search(&file, "2", &journal);
    assert_eq!(get(&addr, "/state"), "{\"trials\":80,\"steps\":0,\"experiments\":2}");
    let shot = common::root().join("target/dashboard.png");
    let _ = std::fs::remove_file(&shot);
    headless(&["--window-size=1400,2400", &format!("--screenshot={}", shot.display()), &url]);
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000), "the screenshot {} was written", shot.display());
    assert!(headless(&["--dump-dom", &url]).contains("<span id=\"trial-count\">80</span>"));
    assert!(get(&addr, "/nothing-here").contains("not found"));
}
