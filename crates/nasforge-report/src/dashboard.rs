//! `nasforge dashboard`: the report page served live. Each load of `/`
//! reads the journals afresh; the page polls `/state` (the trial, step
//! and experiment counts) and reloads itself when one has changed. It
//! binds 127.0.0.1 unless told another address, and on the loopback it
//! answers only requests addressed to it (a `Host` of 127.0.0.1,
//! localhost or [::1] with its port: no DNS rebinding): a journal's
//! configurations and results are nobody else's business by default.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use nasforge_journal::Journal;
use nasforge_registry::Registry;

/// How often the page asks whether trials have landed, in milliseconds.
const POLL_MS: u32 = 2000;

/// What `/state` answers: trials, steps (a supernet's epochs) and
/// experiments in `journals` now. The page reloads when it changes.
fn state(journals: &[PathBuf]) -> Result<String> {
    let (mut trials, mut steps, mut experiments) = (0, 0, 0);
    for path in journals {
        let j = Journal::open_read_only(path)?;
        for e in j.experiments()? {
            experiments += 1;
            trials += j.trial_count(e.id)?;
            steps += j.step_count(e.id)?;
        }
    }
    Ok(format!("{{\"trials\":{trials},\"steps\":{steps},\"experiments\":{experiments}}}"))
}

/// The poller: reloads when `/state` differs from `shown`, the state the
/// page was rendered from (or, on the error page, from nothing).
fn poller(shown: &str) -> String {
    format!(
        "<p class=\"note\">Live: this page reloads when trials land (checked every {} s).</p><script>\
         const shown={};setInterval(()=>fetch('/state').then(r=>r.text()).then(s=>{{if(s!==shown)location.reload();}}).catch(()=>{{}}),{POLL_MS});</script>",
        POLL_MS / 1000,
        serde_json::Value::String(shown.to_owned())
    )
}

/// The report page with the poller before `</body>`. The state is read
/// before the journals, so a trial landing in between makes the page
/// reload rather than hide.
fn live_page(registry: &Registry, journals: &[PathBuf]) -> Result<String> {
    let shown = state(journals)?;
    let page = crate::Report::load(registry, journals)?.html()?;
    Ok(page.replacen("</body>", &(poller(&shown) + "</body>"), 1))
}

/// Whether a request's `Host` names the loopback listener itself: a page
/// from elsewhere that rebinds its own name to 127.0.0.1 sends its own
/// name, and is refused.
fn loopback_host(host: Option<&str>, port: u16) -> bool {
    let Some(host) = host else { return false };
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| host == format!("{name}:{port}") || (port == 80 && host == *name))
}

/// Serves the dashboard on `addr` until the process ends; `ready` is
/// told the address bound (port 0 picks a free one).
pub fn serve(registry: &Registry, journals: &[PathBuf], addr: SocketAddr, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    // Fail before listening when a journal cannot be read at all.
    state(journals)?;
    let server = tiny_http::Server::http(addr).map_err(|e| anyhow!("listening on {addr}: {e}"))?;
    let bound = server.server_addr().to_ip().ok_or_else(|| anyhow!("listening on {addr}: not an IP socket"))?;
    ready(bound);
    let header = |v: &str| tiny_http::Header::from_bytes(&b"Content-Type"[..], v.as_bytes()).expect("a valid header");
    let loopback = bound.ip().is_loopback();
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("/").to_owned();
        let host = request.headers().iter().find(|h| h.field.equiv("Host")).map(|h| h.value.as_str().to_owned());
        let response = if loopback && !loopback_host(host.as_deref(), bound.port()) {
            tiny_http::Response::from_string("this dashboard answers requests for 127.0.0.1 only").with_status_code(403).with_header(header("text/plain; charset=utf-8"))
        } else {
            match path.as_str() {
                "/" | "/index.html" => match live_page(registry, journals) {
                    Ok(page) => tiny_http::Response::from_string(page).with_header(header("text/html; charset=utf-8")),
                    Err(e) => tiny_http::Response::from_string(format!("<!DOCTYPE html><html><body><p>error: {}</p>{}</body></html>", crate::page::esc(&format!("{e:#}")), poller("")))
                        .with_status_code(500)
                        .with_header(header("text/html; charset=utf-8")),
                },
                "/state" => match state(journals) {
                    Ok(json) => tiny_http::Response::from_string(json).with_header(header("application/json")),
                    Err(e) => tiny_http::Response::from_string(format!("{{\"error\":{}}}", serde_json::Value::String(format!("{e:#}")))).with_status_code(500).with_header(header("application/json")),
                },
                _ => tiny_http::Response::from_string("not found").with_status_code(404).with_header(header("text/plain; charset=utf-8")),
            }
        };
        // A client that went away is its own problem, not the server's.
        let _ = request.respond(response);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_addressed_to_the_loopback_listener_are_answered() {
        assert!(loopback_host(Some("127.0.0.1:8787"), 8787));
        assert!(loopback_host(Some("localhost:8787"), 8787));
        assert!(loopback_host(Some("[::1]:8787"), 8787));
        assert!(!loopback_host(Some("evil.example:8787"), 8787));
        assert!(!loopback_host(Some("127.0.0.1:9999"), 8787));
        assert!(!loopback_host(None, 8787));
    }
}
