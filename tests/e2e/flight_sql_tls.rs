//! Flight SQL over TLS: with `[flight_sql] tls_cert` and `tls_key`, analysts' clients reach it
//! only over TLS, on its own port, trusting the certificate, and still log in with the token;
//! the scheduler's port keeps the cluster's gRPC and no longer answers Flight SQL.

use super::FlightSqlClient;
use super::{API_TOKEN, bin_dir, flight_sql_client, flight_sql_first_row};
use pvflow_testkit::PvflowCluster;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// A Flight SQL client of `port` over TLS, trusting `ca` (PEM) for the name `localhost`.
async fn tls_client(port: u16, ca: Option<&str>) -> Result<FlightSqlClient, String> {
    let mut tls = ClientTlsConfig::new().domain_name("localhost");
    if let Some(ca) = ca {
        tls = tls.ca_certificate(Certificate::from_pem(ca));
    }
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .and_then(|e| e.tls_config(tls))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(FlightSqlClient::new(channel))
}

#[test]
fn flight_sql_is_served_over_tls_only() {
    let bins = bin_dir();
    let dir = tempfile::tempdir().expect("temp dir");
    let issued =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, issued.cert.pem()).expect("cert");
    std::fs::write(&key, issued.key_pair.serialize_pem()).expect("key");
    let tls_port = pvflow_testkit::free_port().expect("a port");
    let env = [
        ("PVFLOW_SCHEDULER_FLIGHT_SQL", "true".to_string()),
        ("PVFLOW_API_TOKEN", API_TOKEN.to_string()),
        ("PVFLOW_FLIGHT_SQL_TLS_CERT", cert.display().to_string()),
        ("PVFLOW_FLIGHT_SQL_TLS_KEY", key.display().to_string()),
        ("PVFLOW_FLIGHT_SQL_TLS_PORT", tls_port.to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cluster = PvflowCluster::start(&bins, 1, 2, &env).expect("pvflow cluster");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let ca = issued.cert.pem();
        let mut client = tls_client(tls_port, Some(&ca))
            .await
            .unwrap_or_else(|e| panic!("TLS connection: {e}\n{}", cluster.logs()));
        client
            .handshake("analyst", API_TOKEN)
            .await
            .unwrap_or_else(|e| panic!("logged in: {e}\n{}", cluster.logs()));
        assert_eq!(
            flight_sql_first_row(&mut client, "SELECT 40 + 2 AS answer").await,
            Ok(vec!["42".to_string()]),
            "{}",
            cluster.logs()
        );

        // Over TLS, a wrong token is still refused.
        let mut wrong = tls_client(tls_port, Some(&ca)).await.expect("connects");
        assert!(wrong.handshake("analyst", "not-the-token").await.is_err());
        // A client that does not trust the certificate never gets as far as the token.
        let untrusting = match tls_client(tls_port, None).await {
            Ok(mut client) => client.handshake("analyst", API_TOKEN).await.err(),
            Err(e) => Some(arrow_flight::error::FlightError::ProtocolError(e)),
        };
        assert!(
            untrusting.is_some(),
            "an untrusted certificate was accepted"
        );
        // Plain gRPC to the TLS port gets nowhere, and the scheduler's port serves no Flight SQL.
        for url in [
            format!("http://127.0.0.1:{tls_port}"),
            cluster.url().replace("df://", "http://"),
        ] {
            let mut plain = flight_sql_client(&url).await;
            assert!(
                plain.handshake("analyst", API_TOKEN).await.is_err(),
                "{url} answered Flight SQL in plain text"
            );
        }
    });
}
