//! `nasforge dashboard`: the report page served live. Each load of `/`
//! reads the journals afresh; the page polls `/state` (the trial and
//! experiment counts) and reloads itself when a trial has landed. It
//! binds 127.0.0.1 unless told another address: a journal's
//! configurations and results are nobody else's business by default.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use nasforge_journal::Journal;
use nasforge_registry::Registry;

/// How often the page asks whether trials have landed, in milliseconds.
const POLL_MS: u32 = 2000;

/// Trials and experiments in `journals` now (what `/state` answers).
fn counts(journals: &[PathBuf]) -> Result<(usize, usize)> {
    let (mut trials, mut experiments) = (0, 0);
    for path in journals {
        let j = Journal::open_existing(path)?;
        for e in j.experiments()? {
            experiments += 1;
            trials += j.trials(e.id)?.len();
        }
    }
    Ok((trials, experiments))
}

/// The report page with the poller before `</body>`.
fn live_page(registry: &Registry, journals: &[PathBuf]) -> Result<String> {
    let page = crate::Report::load(registry, journals)?.html()?;
    let (trials, _) = counts(journals)?;
    let script = format!(
        "<p class=\"note\">Live: this page reloads when trials land (checked every {} s).</p><script>\
         const shown={trials};setInterval(()=>fetch('/state').then(r=>r.json()).then(s=>{{if(s.trials!==shown)location.reload();}}).catch(()=>{{}}),{POLL_MS});</script>",
        POLL_MS / 1000
    );
    Ok(page.replacen("</body>", &(script + "</body>"), 1))
}

/// Serves the dashboard on `addr` until the process ends; `ready` is
/// told the address bound (port 0 picks a free one).
pub fn serve(registry: &Registry, journals: &[PathBuf], addr: SocketAddr, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    // Fail before listening when a journal cannot be read at all.
    counts(journals)?;
    let server = tiny_http::Server::http(addr).map_err(|e| anyhow!("listening on {addr}: {e}"))?;
    let bound = server.server_addr().to_ip().ok_or_else(|| anyhow!("listening on {addr}: not an IP socket"))?;
    ready(bound);
    let header = |v: &str| tiny_http::Header::from_bytes(&b"Content-Type"[..], v.as_bytes()).expect("a valid header");
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("/").to_owned();
        let response = match path.as_str() {
            "/" | "/index.html" => match live_page(registry, journals) {
                Ok(page) => tiny_http::Response::from_string(page).with_header(header("text/html; charset=utf-8")),
                Err(e) => tiny_http::Response::from_string(format!("error: {e:#}")).with_status_code(500).with_header(header("text/plain; charset=utf-8")),
            },
            "/state" => match counts(journals) {
                Ok((trials, experiments)) => {
                    tiny_http::Response::from_string(format!("{{\"trials\":{trials},\"experiments\":{experiments}}}")).with_header(header("application/json"))
                }
                Err(e) => tiny_http::Response::from_string(format!("{{\"error\":{}}}", serde_json::Value::String(format!("{e:#}")))).with_status_code(500).with_header(header("application/json")),
            },
            _ => tiny_http::Response::from_string("not found").with_status_code(404).with_header(header("text/plain; charset=utf-8")),
        };
        // A client that went away is its own problem, not the server's.
        let _ = request.respond(response);
    }
    Ok(())
}
