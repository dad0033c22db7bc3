//! `pvflow demo --serve`: the device API and the web dashboard on the demo's output, read over
//! HTTP and in a real headless Chromium (`scripts/chromium.sh`, `PVFLOW_CHROMIUM`).

use super::{bin_dir, pvflow, stdout};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The demo, serving; stopped (SIGTERM) when dropped.
struct Demo {
    child: std::process::Child,
    base: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_demo(bins: &Path, output: &Path) -> Demo {
    let repo = pvflow_testkit::repo_file(".");
    let mut child = std::process::Command::new(bins.join("pvflow"))
        .current_dir(&repo)
        .env_remove("PVFLOW_CONFIG")
        .env(
            "ORT_DYLIB_PATH",
            pvflow_testkit::onnxruntime_library().expect("ONNX Runtime"),
        )
        .args(["demo", "--devices", "12", "--seed", "3", "--in-process"])
        .arg("--output")
        .arg(output)
        .args(["--serve", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("pvflow demo starts");
    let lines = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let (found, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("dashboard: ") {
                let _ = found.send(url.trim_end_matches('/').to_string());
            }
        }
    });
    let base = address
        .recv_timeout(Duration::from_secs(300))
        .expect("the demo printed its dashboard's address");
    Demo { child, base }
}

/// `sql` over the demo's datasets, as CSV without its header.
fn sql(bins: &Path, output: &Path, sql: &str) -> String {
    let csv = stdout(
        pvflow(bins)
            .env("PVFLOW_STORAGE_SILVER", output.join("silver"))
            .env("PVFLOW_STORAGE_GOLD", output.join("gold"))
            .args(["sql", "--format", "csv", sql]),
    );
    csv.lines().skip(1).collect::<Vec<_>>().join("\n")
}

/// The page at `url` after its scripts ran, and what its console said.
fn browse(url: &str) -> (String, String) {
    let chromium = std::env::var("PVFLOW_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let profile = tempfile::tempdir().expect("profile dir");
    let output = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=20000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {chromium} (scripts/chromium.sh installs it): {e}"));
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .collect::<Vec<_>>()
        .join("\n");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        console,
    )
}

/// The value of attribute `name` of the element with `id` in `dom`.
fn attribute(dom: &str, id: &str, name: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = dom[..at].rfind('<')?;
    let tag = &dom[start..start + dom[start..].find('>')?];
    let value = tag.split(&format!("{name}=\"")).nth(1)?;
    Some(value[..value.find('"')?].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_the_device_api_show_what_gold_holds() {
    let bins = bin_dir();
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = start_demo(&bins, dir.path());
    let http = reqwest::Client::new();
    // Every answer, for the check against the OpenAPI description at the end.
    let answers = std::sync::Mutex::new(Vec::new());
    let get = async |path: &str| {
        let response = http
            .get(format!("{}{path}", demo.base))
            .send()
            .await
            .expect("answers");
        let code = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let route = path.split('?').next().unwrap_or(path);
        answers.lock().expect("lock").push(serde_json::json!({
            "method": "GET", "path": route, "status": code, "body": body,
        }));
        (code, body)
    };

    // The heat-map holds every diagnosis of gold's day; its fault cells are gold's faults.
    let (code, fleet) = get("/fleet").await;
    assert_eq!(code, 200, "{fleet}");
    assert_eq!(fleet["date"], "2026-06-01");
    let faults = sql(
        &bins,
        dir.path(),
        "SELECT count(*) FROM gold WHERE fault_code <> 0",
    );
    let (_, heatmap) = get("/fleet/heatmap").await;
    let cells: Vec<i64> = heatmap["fault_codes"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .filter_map(|c| c.as_i64())
        })
        .collect();
    assert_eq!(
        cells.iter().filter(|c| **c != 0).count().to_string(),
        faults
    );
    assert_eq!(heatmap["devices"].as_array().map(Vec::len), Some(12));
    assert_eq!(heatmap["window_starts"].as_array().map(Vec::len), Some(67));

    // Episodes are fault_events' rows; the worst device comes first.
    let (_, episodes) = get("/episodes").await;
    let listed = episodes["episodes"].as_array().expect("episodes").len();
    assert_eq!(
        listed.to_string(),
        sql(&bins, dir.path(), "SELECT count(*) FROM fault_events")
    );
    let worst = fleet["devices"][0]["device_id"]
        .as_str()
        .expect("a device")
        .to_string();

    // A device's diagnoses are its gold rows; bad parameters are named.
    let (code, diagnoses) = get(&format!("/devices/{worst}/diagnoses?from=2026-06-01")).await;
    assert_eq!(code, 200, "{diagnoses}");
    let rows = diagnoses["diagnoses"].as_array().expect("rows").len();
    let count = format!("SELECT count(*) FROM gold WHERE device_id = '{worst}'");
    assert_eq!(rows.to_string(), sql(&bins, dir.path(), &count));
    let (code, refused) = get(&format!("/devices/{worst}/diagnoses?from=2026-13-01")).await;
    assert_eq!((code, refused["parameter"].as_str()), (400, Some("from")));
    let (code, refused) = get(&format!(
        "/devices/{worst}/diagnoses?from=2026-01-01&to=2026-06-01"
    ))
    .await;
    assert_eq!((code, refused["parameter"].as_str()), (400, Some("to")));
    let (code, _) = get("/devices/no-such-device/diagnoses").await;
    assert_eq!(code, 404);
    let (code, refused) = get("/episodes?severity=bad").await;
    assert_eq!(
        (code, refused["parameter"].as_str()),
        (400, Some("severity"))
    );

    let window = diagnoses["diagnoses"][0]["window_start"]
        .as_str()
        .expect("a window")
        .to_string();
    let png = http
        .get(format!("{}/devices/{worst}/scalogram.png", demo.base))
        .query(&[("window_start", window.as_str())])
        .send()
        .await
        .expect("answers");
    assert_eq!(png.status().as_u16(), 200);
    let bytes = png.bytes().await.expect("png");
    assert_eq!(&bytes[..4], b"\x89PNG");
    get(&format!("/devices/{worst}/series?date=2026-06-01")).await;
    get("/episodes?state=closed&severity=critical").await;
    get("/fleet?date=2026-06-02").await;
    let (_, recorded) = get("/runs/recorded").await;
    let plans: Vec<&str> = recorded
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["plan"].as_str())
        .collect();
    assert_eq!(plans, ["predict", "ingest"], "{recorded}");
    check_against_openapi(&answers.into_inner().expect("lock"), dir.path());

    // In a browser: the fleet page draws the same heat-map, without console errors.
    let base = demo.base.clone();
    let (dom, console) = tokio::task::spawn_blocking(move || browse(&format!("{base}/")))
        .await
        .expect("browser");
    assert!(dom.contains("data-loaded=\"true\""), "{console}\n{dom}");
    assert_eq!(
        attribute(&dom, "heatmap", "data-faulty-cells").as_deref(),
        Some(faults.as_str()),
        "{dom}"
    );
    assert!(dom.contains(&format!(">{worst}</a>")), "{dom}");
    assert!(!console.to_lowercase().contains("error"), "{console}");

    // The device page: four charts with its episodes shaded, and a scalogram.
    let url = format!("{}/#/device/{worst}?date=2026-06-01", demo.base);
    let (dom, console) = tokio::task::spawn_blocking(move || browse(&url))
        .await
        .expect("browser");
    assert!(dom.contains("data-loaded=\"true\""), "{console}\n{dom}");
    assert_eq!(dom.matches("role=\"img\"").count(), 4, "{dom}");
    assert!(dom.contains("class=\"scalogram\""), "{dom}");
    assert!(!console.to_lowercase().contains("error"), "{console}");

    // The runs page lists the demo's two runs from their manifests.
    let url = format!("{}/#/runs", demo.base);
    let (dom, console) = tokio::task::spawn_blocking(move || browse(&url))
        .await
        .expect("browser");
    let recorded = dom.split("id=\"recorded-runs\"").nth(1).unwrap_or_default();
    assert_eq!(recorded.matches("<tr>").count(), 3, "{console}\n{dom}");
    assert!(!console.to_lowercase().contains("error"), "{console}");

    // The episodes page lists the day's episodes, as /episodes does.
    let url = format!("{}/#/episodes", demo.base);
    let (dom, console) = tokio::task::spawn_blocking(move || browse(&url))
        .await
        .expect("browser");
    assert!(dom.contains("data-loaded=\"true\""), "{console}\n{dom}");
    let day = dom.split("Episodes of").nth(1).unwrap_or_default();
    assert_eq!(day.matches("<tr>").count(), listed + 1, "{dom}");
    assert!(!console.to_lowercase().contains("error"), "{console}");
    drop(demo);

    // Served with a token, the page asks for it and shows nothing before.
    let silver = dir.path().join("silver").display().to_string();
    let gold = dir.path().join("gold").display().to_string();
    let api = pvflow_testkit::RunApi::start(
        &bins,
        None,
        &[
            ("PVFLOW_STORAGE_SILVER", silver.as_str()),
            ("PVFLOW_STORAGE_GOLD", gold.as_str()),
            ("PVFLOW_API_TOKEN", "dashboard-token"),
        ],
    )
    .expect("pvflow serve");
    let url = format!("{}/", api.url());
    let (dom, _) = tokio::task::spawn_blocking(move || browse(&url))
        .await
        .expect("browser");
    let login = dom.find("id=\"login\"").expect("the login form");
    let end = login + dom[login..].find('>').unwrap_or(0);
    let tag = &dom[dom[..login].rfind('<').unwrap_or(0)..end];
    assert!(!tag.contains("hidden"), "{dom}");
    assert!(!dom.contains("id=\"heatmap\""), "{dom}");
}

/// Every answer is one the OpenAPI description documents, its body matching the schema
/// (scripts/check_openapi_answers.py, as the run API's own test checks its answers).
fn check_against_openapi(answers: &[serde_json::Value], dir: &Path) {
    let recorded = dir.join("answers.json");
    std::fs::write(&recorded, serde_json::to_vec(answers).expect("JSON")).expect("written");
    let python = pvflow_testkit::openapi_python().expect("openapi-spec-validator");
    let checked = Command::new(python)
        .arg(pvflow_testkit::repo_file(
            "scripts/check_openapi_answers.py",
        ))
        .arg(pvflow_testkit::repo_file("api/openapi.json"))
        .arg(&recorded)
        .output()
        .expect("python runs");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}
