//! The admin page at `/`, in a real browser: Debian's headless Chromium
//! loads it from the admin address of a gateway serving examples/httpbin,
//! runs its script (which polls `/status` and `/routes`) under the page's
//! own Content-Security-Policy, and dumps the DOM the script built; then
//! takes a screenshot of it.
//!
//! Without `chromium` on the PATH the test says so and passes, unless
//! `VESTIBULE_REQUIRE_CHROMIUM` is set (scripts/test installs Chromium and
//! sets it). `VESTIBULE_UPDATE_SCREENSHOTS=1` copies the screenshot to
//! docs/admin-page.png.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::StatusCode;
use support::{get, httpbin, ConfigDir, Gateway, HOST};
use tokio::process::Command;

/// The route examples/httpbin/virtualservice.yaml makes (rule 0 of
/// VirtualService default/httpbin) on the port-80 listener.
const ROUTE: &str = "http.80/default.httpbin.0";

/// A VirtualService whose `http` is not a list: the reload is refused.
const BROKEN: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: broken\nspec:\n  hosts: [broken.example.com]\n  http: 5\n";

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
}

/// The example's files, its endpoint moved to `backend`'s port.
fn example_config(backend: std::net::SocketAddr) -> ConfigDir {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/httpbin");
    let config = ConfigDir::new();
    for name in [
        "gateway.yaml",
        "httpbin-service.yaml",
        "virtualservice.yaml",
    ] {
        let text = std::fs::read_to_string(example.join(name)).expect("example file");
        assert!(name != "httpbin-service.yaml" || text.contains("port: 18080"));
        let text = text.replace("port: 18080", &format!("port: {}", backend.port()));
        config.write(name, &text);
    }
    config
}

/// Runs headless Chromium on `url` with `args`; its standard output.
async fn run_chromium(chromium: &Path, url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            // Time enough for the first reading and two more polls.
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(15), command.output())
        .await
        .expect("chromium did not finish in 15 s")
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 DOM")
}

/// The `<tr>` whose attribute `attribute` is `value`, as serialized.
fn row<'a>(dom: &'a str, attribute: &str, value: &str) -> &'a str {
    let start = dom
        .find(&format!("<tr {attribute}=\"{value}\""))
        .unwrap_or_else(|| panic!("no row {attribute}={value:?} in the page:\n{dom}"));
    let end = dom[start..].find("</tr>").expect("row end") + start;
    &dom[start..end]
}

/// A PNG's width and height, from its IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_listeners_routes_and_reloads() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("VESTIBULE_REQUIRE_CHROMIUM").is_none(),
            "VESTIBULE_REQUIRE_CHROMIUM is set but chromium is not on the PATH"
        );
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install chromium); \
             set VESTIBULE_REQUIRE_CHROMIUM=1 to make this a failure"
        );
        return;
    };
    let backend = httpbin("httpbin").await;
    let config = example_config(backend);
    let gateway = Gateway::start(config.path(), &[80], &[]).await;
    let address = gateway.listener(80).await;
    for path in ["/status/200"; 5].into_iter().chain(["/status/418"; 2]) {
        let (status, _, _) = get(address, HOST, path).await;
        assert!(status == StatusCode::OK || status.as_u16() == 418, "{path}");
    }
    let (status, _, _) = get(address, HOST, "/nothing-routes-this").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A reload that fails: generation 1 keeps serving, the page says why.
    config.write("broken.yaml", BROKEN);
    let mut rejected = false;
    for _ in 0..250 {
        rejected = gateway.status().await["lastReload"]["ok"] == false;
        if rejected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        rejected,
        "the broken reload was not reported; log:\n{}",
        gateway.log()
    );

    let (_, headers, _) = get(gateway.admin, "localhost", "/").await;
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.starts_with(
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
        ),
        "{policy}"
    );
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");

    let url = format!("http://{}/", gateway.admin);
    let dom = run_chromium(&chromium, &url, &["--dump-dom"]).await;
    assert!(dom.contains("generation 1"), "the state line:\n{dom}");

    let listener = row(&dom, "data-listener", "http.80");
    assert!(listener.contains(&address.to_string()), "{listener}");
    assert!(listener.contains(">bound<"), "{listener}");

    let route = row(&dom, "data-route", ROUTE);
    // Its two `match` entries are one route to the data plane: one row.
    assert_eq!(dom.matches(&format!("data-route=\"{ROUTE}\"")).count(), 1);
    let source = format!("{}:2", config.path().join("virtualservice.yaml").display());
    assert!(route.contains(&source), "no {source} in {route}");
    assert!(route.contains(">prefix /status<"), "{route}");
    assert!(route.contains(">prefix /delay<"), "{route}");
    assert!(route.contains("class=\"num requests\">7<"), "{route}");
    assert!(
        route.contains("200×5") && route.contains("418×2"),
        "{route}"
    );

    let last_reload = row(&dom, "id", "last-reload-summary");
    assert!(last_reload.contains("rejected"), "{last_reload}");
    assert!(dom.contains("broken.yaml:7"), "the reload error:\n{dom}");
    let reloads: Vec<&str> = dom.split("<tr class=\"reload\">").skip(1).collect();
    assert_eq!(reloads.len(), 2, "recent reloads:\n{dom}");
    assert!(reloads[0].contains(">failed<") && reloads[1].contains(">ok<"));

    // The screenshot, with traffic flowing so that rates show.
    let traffic = tokio::spawn(async move {
        loop {
            get(address, HOST, "/status/200").await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let argument = format!("--screenshot={}", screenshot.display());
    run_chromium(&chromium, &url, &[&argument, "--window-size=1280,1600"]).await;
    traffic.abort();
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert_eq!(png_size(&png), (1280, 1600));
    if std::env::var_os("VESTIBULE_UPDATE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/admin-page.png");
        std::fs::copy(&screenshot, docs).expect("copy the screenshot to docs/");
    }
}
