//! The API over real HTTP on 127.0.0.1, running plans in-process.

use crate::{ApiClient, ApiError, RunRequest, RunService, RunStatus, SessionSource, Submitted};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;
use pvflow_runner::RunState;
use pvflow_session::PvflowConfig;
use std::sync::Arc;
use std::time::Duration;

struct Embedded(PvflowConfig);

impl SessionSource for Embedded {
    fn session(&self) -> BoxFuture<'static, Result<SessionContext, DataFusionError>> {
        let config = self.0.clone();
        Box::pin(async move {
            pvflow_session::server_session_context(&config)
                .map_err(|e| DataFusionError::External(Box::new(e)))
        })
    }
}

/// A configuration whose silver and gold are directories of `dir`.
fn config(dir: &tempfile::TempDir) -> PvflowConfig {
    let mut config = PvflowConfig::default();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    config.storage.silver = path("silver");
    config.storage.gold = path("gold");
    config
}

struct Api {
    address: std::net::SocketAddr,
    client: ApiClient,
    service: Arc<RunService>,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(config: PvflowConfig) -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let service =
        RunService::new(config.clone(), Arc::new(Embedded(config))).expect("valid locations");
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let served = tokio::spawn(crate::serve(listener, Arc::clone(&service), async {
        let _ = stopped.await;
    }));
    Api {
        address,
        client: ApiClient::new(&format!("http://{address}")),
        service,
        stop,
        served,
    }
}

impl Api {
    fn client_base(&self) -> String {
        format!("http://{}", self.address)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.served.await.expect("joined").expect("served");
    }
}

fn request(plan: &str, date: &str) -> RunRequest {
    RunRequest {
        plan: plan.into(),
        date: date.into(),
        ..RunRequest::default()
    }
}

/// An ingest that runs long enough to be cancelled: nothing listens on port 1, so planning the
/// Kafka offsets waits for the brokers' timeout (10 s).
fn unanswered_ingest() -> RunRequest {
    RunRequest {
        brokers: Some("127.0.0.1:1".into()),
        ..request("ingest", "2026-06-01")
    }
}

/// The run a submission started.
fn started(submitted: Submitted) -> RunStatus {
    match submitted {
        Submitted::Started(run) | Submitted::Replayed(run) => *run,
        Submitted::UpToDate(day) => panic!("no run started: {day:?}"),
    }
}

const POLL: Duration = Duration::from_millis(50);

#[tokio::test]
async fn refuses_an_invalid_parameter_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = start(config(&dir)).await;
    let refused = |e: ApiError| match e {
        ApiError::Refused(body) => body,
        other => panic!("not refused: {other}"),
    };
    let date = refused(
        api.client
            .submit(&request("predict", "2026-02-30"))
            .await
            .expect_err("no 30 February"),
    );
    assert_eq!(date.parameter.as_deref(), Some("date"));
    assert!(date.error.contains("2026-02-30"), "{}", date.error);
    // The configuration names no brokers, and the request neither.
    let brokers = refused(
        api.client
            .submit(&request("ingest", "2026-06-01"))
            .await
            .expect_err("no brokers"),
    );
    assert_eq!(brokers.parameter.as_deref(), Some("brokers"));
    // As an attacker would: locations outside the configured roots are refused by name, and
    // nothing is created there.
    let elsewhere = dir.path().join("elsewhere");
    let outside = [
        RunRequest {
            silver: Some(elsewhere.to_string_lossy().into_owned()),
            ..request("predict", "2026-06-01")
        },
        RunRequest {
            gold: Some("s3://someone-elses-bucket/gold/".into()),
            ..request("predict", "2026-06-01")
        },
        RunRequest {
            readings_parquet: Some("/etc/passwd".into()),
            ..request("ingest", "2026-06-01")
        },
    ];
    for (r, name) in outside
        .into_iter()
        .zip(["silver", "gold", "readings_parquet"])
    {
        let refusal = refused(api.client.submit(&r).await.expect_err(name));
        assert_eq!(refusal.parameter.as_deref(), Some(name));
        assert!(
            refusal.error.contains("outside the locations"),
            "{}",
            refusal.error
        );
    }
    assert!(!elsewhere.exists());
    assert!(api.client.list().await.expect("list").is_empty());
    api.stop().await;
}

#[tokio::test]
async fn a_failed_run_says_why_and_its_status_outlives_the_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = start(config(&dir)).await;
    let submitted = api
        .client
        .submit(&request("predict", "2026-06-01"))
        .await
        .expect("submitted");
    let submitted = started(submitted);
    assert_eq!(submitted.state, RunState::Running);
    assert!(submitted.run_id.starts_with("predict-2026-06-01-"));
    let ended = api
        .client
        .wait(&submitted.run_id, POLL, |_| {})
        .await
        .expect("ended");
    assert_eq!(ended.state, RunState::Failed);
    let error = ended.error.clone().expect("an error");
    assert!(error.contains("no silver for 2026-06-01"), "{error}");
    let manifest = ended.manifest.clone().expect("the manifest");
    assert_eq!(manifest.run_id, submitted.run_id);
    let metrics = api.service.metrics_text();
    assert!(
        metrics.contains(r#"pvflow_runs_ended_total{plan="predict",state="failed"} 1"#),
        "{metrics}"
    );
    api.stop().await;

    // A new process knows the run through its manifest under gold.
    let again = start(config(&dir)).await;
    let status = again.client.status(&submitted.run_id).await.expect("found");
    assert_eq!(status.state, RunState::Failed);
    assert_eq!(status.error.as_deref(), Some(error.as_str()));
    for unknown in [
        "predict-2026-06-01-00000000",
        "no-such-run",
        "ingest-..%2F..%2Fx",
    ] {
        match again.client.status(unknown).await {
            Err(ApiError::NotFound(body)) => assert!(body.error.contains("no run"), "{body:?}"),
            other => panic!("{unknown}: {other:?}"),
        }
    }
    again.stop().await;
}

#[tokio::test]
async fn a_cancelled_run_ends_cancelled_and_a_second_run_of_its_day_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = start(config(&dir)).await;
    let ingest = unanswered_ingest();
    let run = started(api.client.submit(&ingest).await.expect("submitted"));
    match api.client.submit(&ingest).await {
        Err(ApiError::Conflict(body)) => {
            assert_eq!(body.run.map(|r| r.run_id), Some(run.run_id.clone()));
        }
        other => panic!("a second run of the day was not refused: {other:?}"),
    }
    let cancelling = api.client.cancel(&run.run_id).await.expect("cancel");
    assert!(cancelling.cancel_requested);
    let ended = api
        .client
        .wait(&run.run_id, POLL, |_| {})
        .await
        .expect("ended");
    assert_eq!(ended.state, RunState::Cancelled);
    assert_eq!(ended.error.as_deref(), Some("cancelled on request"));
    match api.client.cancel(&run.run_id).await {
        Err(ApiError::Conflict(body)) => assert!(body.error.contains("already ended")),
        other => panic!("cancelling an ended run: {other:?}"),
    }
    // Nothing was written but the manifest.
    let silver = dir.path().join("silver");
    let written: Vec<_> = std::fs::read_dir(&silver)
        .expect("silver")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(written, ["_runs"], "{written:?}");
    api.stop().await;
}

#[tokio::test]
async fn stopping_the_process_cancels_its_runs_and_refuses_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = start(config(&dir)).await;
    let ingest = unanswered_ingest();
    let run = started(api.client.submit(&ingest).await.expect("submitted"));
    let service = Arc::clone(&api.service);
    api.stop().await;
    let status = service.status(&run.run_id).await.expect("status");
    let status = status.expect("known");
    assert_eq!(status.state, RunState::Cancelled);
    assert_eq!(
        status.error.as_deref(),
        Some("cancelled: the API process was stopped")
    );
    assert!(matches!(
        service.submit(&ingest),
        Err(crate::SubmitError::ShuttingDown)
    ));
}

#[tokio::test]
async fn with_a_token_runs_need_it_and_probes_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut with_token = config(&dir);
    with_token.api.token = Some("pvflow-test-token".into());
    // Mid-rotation: the previous token still works.
    with_token.api.tokens = vec!["pvflow-old-token".into()];
    let api = start(with_token).await;
    let base = api.client.clone();
    for client in [base.clone(), base.clone().with_token(Some("wrong".into()))] {
        match client.list().await {
            Err(ApiError::Unauthorized(body)) => assert!(body.error.contains("token")),
            other => panic!("a run request without the token: {other:?}"),
        }
        match client.submit(&request("predict", "2026-06-01")).await {
            Err(ApiError::Unauthorized(_)) => {}
            other => panic!("a submission without the token: {other:?}"),
        }
    }
    for token in ["pvflow-test-token", "pvflow-old-token"] {
        let allowed = base.clone().with_token(Some(token.into()));
        assert!(allowed.list().await.expect("listed").is_empty());
    }
    // Probes, scrapes and the dashboard's files carry no token; its data routes need it.
    let address = api.client_base();
    for path in [
        "/healthz",
        "/metrics",
        "/",
        "/assets/app.js",
        "/assets/style.css",
    ] {
        let answer = reqwest::get(format!("{address}{path}"))
            .await
            .expect("answer");
        assert_eq!(answer.status(), reqwest::StatusCode::OK, "{path}");
    }
    for path in [
        "/fleet",
        "/fleet/heatmap",
        "/episodes",
        "/devices/pv-00001/diagnoses",
        "/devices/pv-00001/series",
        "/devices/pv-00001/scalogram.png?window_start=2026-06-01T12:00:00Z",
    ] {
        let answer = reqwest::get(format!("{address}{path}"))
            .await
            .expect("answer");
        assert_eq!(answer.status(), reqwest::StatusCode::UNAUTHORIZED, "{path}");
    }
    api.stop().await;
}

/// Bodies an attacker or a broken client sends: too large (413), and generated ones, cut,
/// bit-flipped, spliced with random bytes or of wrong types (400 naming why); none is a server
/// error or starts a run.
#[tokio::test]
async fn oversized_and_broken_bodies_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = start(config(&dir)).await;
    let http = reqwest::Client::new();
    let post = async |body: Vec<u8>| {
        http.post(format!("{}/runs", api.client_base()))
            .body(body)
            .send()
            .await
            .expect("answered")
    };
    let huge = format!(
        r#"{{"plan": "ingest", "date": "{}"}}"#,
        "9".repeat(64 * 1024)
    );
    assert_eq!(post(huge.into_bytes()).await.status(), 413);

    // A request no mutation turns into a run: its date is always out of range or malformed.
    let valid = br#"{"plan": "predict", "date": "2026-99-01", "silver": "s", "gold": "g"}"#;
    let mut rng = pvflow_testkit::SeededRandom::new(0x2545_F491_4F6C_DD1D);
    for round in 0..300 {
        let mut body = valid.to_vec();
        let at = rng.below(body.len());
        match round % 5 {
            0 => body.truncate(at),
            1 => body[at] ^= 1 << rng.below(8),
            2 => {
                let inserted: Vec<u8> = (0..rng.below(32)).map(|_| rng.byte()).collect();
                body.splice(at..at, inserted);
            }
            3 => body = (0..rng.below(128)).map(|_| rng.byte()).collect(),
            _ => body = format!(r#"{{"plan": {}, "date": [1, 2]}}"#, rng.below(1000)).into_bytes(),
        }
        let answer = post(body.clone()).await;
        let status = answer.status();
        let text = answer.text().await.expect("body");
        assert_eq!(status, 400, "{}: {text}", String::from_utf8_lossy(&body));
        let refusal: serde_json::Value = serde_json::from_str(&text).expect("a JSON refusal");
        assert!(
            refusal["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{text}"
        );
    }
    assert!(api.client.list().await.expect("list").is_empty());
    api.stop().await;
}

/// `if_late` over HTTP, as the catch-up of an orchestrator asks it: a day never ingested runs;
/// once ingested, it is up to date (200, no run) until readings of it arrive; predict and
/// Parquet readings are refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_late_runs_a_day_only_when_readings_arrived_since() {
    use pvflow_kafka::{AvroFraming, PvReading, ReadingProducer};
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock broker");
    cluster.create_topic("pv.readings", 1, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let produce = |from: i64, readings: i64| {
        let brokers = brokers.clone();
        tokio::task::spawn_blocking(move || {
            let mut producer = ReadingProducer::new(
                &brokers,
                "pv.readings",
                AvroFraming::SingleObject,
                &Default::default(),
            )
            .expect("producer");
            // 2026-06-01T10:00:00Z onwards, every 20 s.
            for i in from..from + readings {
                let reading = PvReading {
                    device_id: "pv-001".into(),
                    ts: 1_780_308_000_000 + i * 20_000,
                    voltage: 500.0,
                    current: 8.0,
                    temperature: 30.0,
                    irradiance: 800.0,
                };
                producer.send(&reading).expect("queued");
            }
            let report = producer.finish(Duration::from_secs(30)).expect("flushed");
            assert_eq!(report.failed, 0, "{:?}", report.first_error);
        })
    };
    produce(0, 128).await.expect("produced");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(&dir);
    config.kafka.brokers = Some(brokers.clone());
    let api = start(config).await;
    let late = RunRequest {
        if_late: true,
        ..request("ingest", "2026-06-01")
    };
    let first = started(
        api.client
            .submit(&late)
            .await
            .expect("never ingested: runs"),
    );
    let ended = api
        .client
        .wait(&first.run_id, POLL, |_| {})
        .await
        .expect("ended");
    assert_eq!(ended.state, RunState::Succeeded, "{ended:?}");
    match api.client.submit(&late).await.expect("answered") {
        Submitted::UpToDate(day) => {
            assert_eq!(day.last_run_id, first.run_id);
            assert_eq!(
                (day.state.as_str(), day.date.as_str()),
                ("up_to_date", "2026-06-01")
            );
        }
        Submitted::Started(run) | Submitted::Replayed(run) => panic!("up to date, yet {run:?}"),
    }
    produce(128, 64).await.expect("produced");
    let second = started(
        api.client
            .submit(&late)
            .await
            .expect("readings arrived: runs"),
    );
    let ended = api
        .client
        .wait(&second.run_id, POLL, |_| {})
        .await
        .expect("ended");
    assert_eq!(ended.state, RunState::Succeeded, "{ended:?}");
    for refused in [
        RunRequest {
            if_late: true,
            ..request("predict", "2026-06-01")
        },
        RunRequest {
            readings_parquet: Some(dir.path().join("silver").to_string_lossy().into_owned()),
            brokers: None,
            ..late.clone()
        },
    ] {
        match api.client.submit(&refused).await {
            Err(ApiError::Refused(body)) => assert_eq!(body.parameter.as_deref(), Some("if_late")),
            other => panic!("{refused:?}: {other:?}"),
        }
    }
    api.stop().await;
}

/// A client that sends its body slowly (or never) holds no connection past the request time
/// limit: 408, saying which setting.
#[tokio::test]
async fn a_request_slower_than_the_limit_is_answered_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(&dir);
    config.api.request_timeout_seconds = 1;
    let api = start(config).await;
    let mut socket = tokio::net::TcpStream::connect(api.address)
        .await
        .expect("connected");
    socket
        .write_all(
            b"POST /runs HTTP/1.1\r\nHost: pvflow\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"plan\": ",
        )
        .await
        .expect("sent");
    let mut answer = Vec::new();
    // The guard turns a server that never answers into a failure instead of a stuck test.
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut answer))
        .await
        .expect("answered in bounded time")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout_seconds"), "{answer}");
    assert!(api.client.list().await.expect("list").is_empty());
    api.stop().await;
}

/// With `[api] tls_cert` and `tls_key`, the API speaks only HTTPS: a client trusting the
/// certificate gets answers, a plain HTTP request none; half a configuration or unreadable
/// files are refused by name.
#[tokio::test]
async fn with_a_certificate_the_api_speaks_https_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let issued =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    let (cert, key) = (dir.path().join("api.crt"), dir.path().join("api.key"));
    std::fs::write(&cert, issued.cert.pem()).expect("cert");
    std::fs::write(&key, issued.key_pair.serialize_pem()).expect("key");

    let refused = |c: Option<&std::path::Path>, k: Option<&std::path::Path>| {
        pvflow_tls::acceptor(c, k, pvflow_tls::Protocol::Http1)
            .err()
            .map(|e| e.to_string())
    };
    assert!(refused(None, None).is_none());
    assert!(refused(Some(&cert), None).is_some_and(|e| e.contains("tls_cert is set")));
    let missing = dir.path().join("missing.pem");
    assert!(refused(Some(&missing), Some(&key)).is_some_and(|e| e.contains("missing.pem")));
    assert!(refused(Some(&cert), Some(&cert)).is_some_and(|e| e.contains("api.crt")));

    let acceptor = pvflow_tls::acceptor(Some(&cert), Some(&key), pvflow_tls::Protocol::Http1)
        .expect("valid")
        .expect("configured");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = tcp.local_addr().expect("address").port();
    let config = config(&dir);
    let service =
        RunService::new(config.clone(), Arc::new(Embedded(config))).expect("valid locations");
    let listener = pvflow_tls::TlsListener::new(tcp, acceptor).expect("listener");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(crate::serve(listener, service, async {
        let _ = stopped.await;
    }));

    let trusting = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(issued.cert.pem().as_bytes()).expect("pem"),
        )
        .build()
        .expect("client");
    let answer = trusting
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .expect("answered over TLS");
    assert_eq!(answer.status(), 200);
    let listed = ApiClient::new(&format!("https://localhost:{port}"));
    // Not trusted: the system's roots do not hold a self-signed certificate.
    assert!(matches!(
        listed.list().await,
        Err(ApiError::Unreachable { .. })
    ));
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(15))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    let _ = stop.send(());
    served.await.expect("joined").expect("served");
}

/// A retried submission (a Step Functions task's retry, an Airflow operator's) with the same
/// `Idempotency-Key` answers the run the first one started, even once it ended; the key with
/// another request, or a malformed key, is refused by name; a request that started nothing
/// leaves its key free.
#[tokio::test]
async fn a_repeated_idempotency_key_answers_the_first_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = start(config(&dir)).await;
    let http = reqwest::Client::new();
    let post = async |key: &str, request: &RunRequest| {
        let answer = http
            .post(format!("{}/runs", api.client_base()))
            .header("Idempotency-Key", key)
            .body(serde_json::to_vec(request).expect("JSON"))
            .send()
            .await
            .expect("answered");
        let replayed = answer.headers().contains_key("idempotent-replayed");
        let status = answer.status().as_u16();
        let body: serde_json::Value =
            serde_json::from_str(&answer.text().await.expect("body")).expect("JSON");
        (status, replayed, body)
    };
    let ingest = unanswered_ingest();
    let (status, replayed, first) = post("daily-ingest-2026-06-01", &ingest).await;
    assert_eq!((status, replayed), (202, false), "{first}");
    let run_id = first["run_id"].as_str().expect("a run").to_string();
    let (status, replayed, again) = post("daily-ingest-2026-06-01", &ingest).await;
    assert_eq!((status, replayed), (200, true), "{again}");
    assert_eq!(again["run_id"], run_id.as_str());

    let other_day = RunRequest {
        date: "2026-06-02".into(),
        ..ingest.clone()
    };
    let (status, _, refused) = post("daily-ingest-2026-06-01", &other_day).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["parameter"], "Idempotency-Key");
    for malformed in ["has space", &"k".repeat(256)] {
        let (status, _, refused) = post(malformed, &ingest).await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(refused["parameter"], "Idempotency-Key");
    }

    // Refused (the day's ingest is running): nothing started, the key stays free.
    let (status, _, _) = post("second-try", &ingest).await;
    assert_eq!(status, 409);
    api.client.cancel(&run_id).await.expect("cancel");
    let ended = api.client.wait(&run_id, POLL, |_| {}).await.expect("ended");
    assert_eq!(ended.state, RunState::Cancelled);
    let (status, replayed, after) = post("daily-ingest-2026-06-01", &ingest).await;
    assert_eq!((status, replayed), (200, true), "{after}");
    assert_eq!(after["state"], "cancelled");
    let (status, _, second) = post("second-try", &ingest).await;
    assert_eq!(status, 202, "{second}");
    assert_ne!(second["run_id"], run_id.as_str());
    api.client
        .cancel(second["run_id"].as_str().expect("a run"))
        .await
        .expect("cancel");
    api.stop().await;
}

/// A run with `notify_url` posts its final status there when it ends, retrying a receiver
/// that failed; a URL that is not http(s) is refused by name.
#[tokio::test]
async fn a_run_posts_its_end_to_its_notify_url() {
    use axum::http::{HeaderMap, StatusCode};
    let received = Arc::new(std::sync::Mutex::new(
        Vec::<(String, serde_json::Value)>::new(),
    ));
    let receiver = {
        let received = Arc::clone(&received);
        axum::Router::new().route(
            "/hooks/pvflow",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let received = Arc::clone(&received);
                async move {
                    let mut received = received.lock().expect("lock");
                    let run = headers
                        .get("pvflow-run-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    received.push((run, serde_json::from_slice(&body).expect("JSON")));
                    // The first attempt fails: the API tries again.
                    if received.len() == 1 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook = format!(
        "http://{}/hooks/pvflow",
        listener.local_addr().expect("address")
    );
    let receiving = tokio::spawn(async move { axum::serve(listener, receiver).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let api = start(config(&dir)).await;
    for refused in ["ftp://example.org/x", "not a url", "http://"] {
        let request = RunRequest {
            notify_url: Some(refused.into()),
            ..request("predict", "2026-06-01")
        };
        match api.client.submit(&request).await {
            Err(ApiError::Refused(body)) => {
                assert_eq!(body.parameter.as_deref(), Some("notify_url"), "{refused}")
            }
            other => panic!("{refused} was not refused: {other:?}"),
        }
    }
    let request = RunRequest {
        notify_url: Some(hook),
        ..request("predict", "2026-06-01")
    };
    let run = started(api.client.submit(&request).await.expect("submitted"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while received.lock().expect("lock").len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no notification");
        tokio::time::sleep(POLL).await;
    }
    let received = received.lock().expect("lock").clone();
    assert_eq!(received.len(), 2, "{received:?}");
    for (run_id, status) in &received {
        assert_eq!(run_id, &run.run_id);
        assert_eq!(status["run_id"], run.run_id.as_str());
        assert_eq!(status["state"], "failed");
        assert!(
            status["error"]
                .as_str()
                .is_some_and(|e| e.contains("no silver"))
        );
    }
    let metrics = api.service.metrics_text();
    assert!(
        metrics.contains(r#"pvflow_run_notifications_total{outcome="delivered"} 1"#),
        "{metrics}"
    );
    api.stop().await;
    receiving.abort();
}

/// `/openapi.json` is a valid OpenAPI 3.1 description, and every kind of answer the API gives
/// (each route, each status, with and without the token) is an operation and status it
/// documents, its JSON matching the documented schema (openapi-spec-validator, jsonschema).
#[tokio::test]
async fn the_answers_match_the_openapi_description() {
    const TOKEN: &str = "openapi-token";
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(&dir);
    config.api.token = Some(TOKEN.into());
    let api = start(config).await;
    let http = reqwest::Client::new();
    let answers = std::sync::Mutex::new(Vec::new());
    let call = async |method: reqwest::Method,
                      path: &str,
                      body: Option<&RunRequest>,
                      headers: &[(&str, &str)]| {
        let mut request = http
            .request(method.clone(), format!("{}{path}", api.client_base()))
            .bearer_auth(TOKEN);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(serde_json::to_vec(body).expect("JSON"));
        }
        let answer = request.send().await.expect("answered");
        let status = answer.status().as_u16();
        let json = answer
            .headers()
            .get("content-type")
            .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
        let text = answer.text().await.expect("body");
        let body: serde_json::Value = if json {
            serde_json::from_str(&text).expect("JSON")
        } else {
            serde_json::Value::Null
        };
        answers.lock().expect("lock").push(serde_json::json!({
            "method": method.as_str(), "path": path, "status": status, "body": body,
        }));
        (status, body)
    };
    use reqwest::Method;
    let (status, served) = call(Method::GET, "/openapi.json", None, &[]).await;
    assert_eq!(status, 200);
    let file: serde_json::Value =
        serde_json::from_str(crate::routes::OPENAPI).expect("the description is JSON");
    assert_eq!(served, file);
    call(Method::GET, "/healthz", None, &[]).await;
    call(Method::GET, "/metrics", None, &[]).await;
    let unauthorized = http
        .get(format!("{}/runs", api.client_base()))
        .send()
        .await
        .expect("answered");
    assert_eq!(unauthorized.status(), 401);
    let refusal: serde_json::Value =
        serde_json::from_str(&unauthorized.text().await.expect("body")).expect("JSON");
    answers.lock().expect("lock").push(serde_json::json!({
        "method": "GET", "path": "/runs", "status": 401, "body": refusal,
    }));
    call(
        Method::POST,
        "/runs",
        Some(&request("ingest", "2026-13-01")),
        &[],
    )
    .await;
    let ingest = unanswered_ingest();
    let key = [("Idempotency-Key", "openapi-ingest")];
    let (status, run) = call(Method::POST, "/runs", Some(&ingest), &key).await;
    assert_eq!(status, 202, "{run}");
    let run_path = format!("/runs/{}", run["run_id"].as_str().expect("a run"));
    assert_eq!(
        call(Method::POST, "/runs", Some(&ingest), &key).await.0,
        200
    );
    let other = request("ingest", "2026-06-02");
    assert_eq!(call(Method::POST, "/runs", Some(&other), &key).await.0, 422);
    assert_eq!(call(Method::POST, "/runs", Some(&ingest), &[]).await.0, 409);
    call(Method::GET, "/runs", None, &[]).await;
    call(Method::GET, &run_path, None, &[]).await;
    call(Method::GET, "/runs/ingest-2026-06-01-00000000", None, &[]).await;
    assert_eq!(call(Method::DELETE, &run_path, None, &[]).await.0, 202);
    let run_id = run["run_id"].as_str().expect("a run");
    ApiClient::new(&api.client_base())
        .with_token(Some(TOKEN.into()))
        .wait(run_id, POLL, |_| {})
        .await
        .expect("ended");
    assert_eq!(call(Method::DELETE, &run_path, None, &[]).await.0, 409);
    let (_, ended) = call(Method::GET, &run_path, None, &[]).await;
    assert!(ended["manifest"].is_object(), "{ended}");
    call(Method::GET, "/devices/pv-00001", None, &[]).await;
    call(Method::GET, "/devices/%01", None, &[]).await;

    let recorded = dir.path().join("answers.json");
    let answers = answers.into_inner().expect("lock");
    std::fs::write(&recorded, serde_json::to_vec(&answers).expect("JSON")).expect("written");
    let description = dir.path().join("openapi.json");
    std::fs::write(&description, crate::routes::OPENAPI).expect("written");
    let python = pvflow_testkit::openapi_python().expect("openapi-spec-validator");
    let checked = std::process::Command::new(python)
        .arg(pvflow_testkit::repo_file(
            "scripts/check_openapi_answers.py",
        ))
        .args([&description, &recorded])
        .output()
        .expect("python runs");
    assert!(
        checked.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&checked.stderr),
        serde_json::to_string_pretty(&answers).unwrap_or_default()
    );
    api.stop().await;
}
