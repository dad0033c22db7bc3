//! The scheduler's Arrow Flight SQL endpoint (`--flight-sql`) for analysts' SQL clients (ADBC,
//! JDBC, DBeaver, Superset): who may use it (the run API's token as the password, as the
//! Flight SQL convention's HTTP Basic credentials), the schema each result is announced with,
//! and serving it over TLS on a port of its own, which Ballista's scheduler cannot.

use arrow_flight::flight_service_server::FlightServiceServer;
use async_trait::async_trait;
use ballista_core::extension::BallistaConfigGrpcEndpoint;
use ballista_core::flight_proxy_service::BallistaFlightProxyService;
use ballista_flight_sql::{
    Authenticator, BallistaFlightSqlService, Identity, QueryBackend, QueryResult,
};
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_server::SchedulerServer;
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use pvflow_session::ApiConfig;
use pvflow_tls::TlsListener;
use std::sync::Arc;
use tonic::Status;
use tonic::metadata::MetadataMap;

pub(crate) type Scheduler = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// Clients differ: Go's (ADBC) leaves out base64 padding, Rust's and Java's keep it.
const CREDENTIALS: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Accepts a handshake whose Basic password is `[api] token` (`PVFLOW_API_TOKEN`); the user name
/// is only recorded.
#[derive(Debug)]
pub struct TokenAuthenticator {
    api: ApiConfig,
}

impl TokenAuthenticator {
    /// `None` when no token is configured: the endpoint then takes anyone (Ballista warns).
    pub fn new(api: &ApiConfig) -> Option<TokenAuthenticator> {
        api.requires_token()
            .then(|| TokenAuthenticator { api: api.clone() })
    }
}

#[async_trait]
impl Authenticator for TokenAuthenticator {
    async fn authenticate(&self, headers: &MetadataMap) -> Result<Identity, Status> {
        let refused = || {
            Status::unauthenticated(
                "pvflow's Flight SQL needs the API token (PVFLOW_API_TOKEN) as the password",
            )
        };
        let encoded = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Basic "))
            .ok_or_else(refused)?;
        let decoded = CREDENTIALS.decode(encoded).map_err(|_| refused())?;
        let credentials = String::from_utf8(decoded).map_err(|_| refused())?;
        let (user, password) = credentials.split_once(':').ok_or_else(refused)?;
        if !self.api.accepts(password) {
            tracing::warn!(user, "Flight SQL handshake refused: wrong token");
            return Err(refused());
        }
        Ok(Identity::user(user))
    }
}

/// Ballista's scheduler as the Flight SQL backend, each result announced with the schema of its
/// physical plan. ballista-scheduler 55.0 reads it from "the" stage without output links, taken
/// from a hash map: for a grouped query that is at times the partial aggregate's stage, and
/// clients that check (ADBC, the JDBC driver) refuse the data (`count(*)` promised as
/// `count(Int64(1))[count]`). The physical plan is the one the last stage cuts from, so its
/// schema, nullability included, is the data's, but for dictionaries, which Flight sends as
/// their values (a hive partition column of a `CREATE EXTERNAL TABLE`).
pub(crate) struct PlannedSchema(Scheduler);

#[async_trait]
impl QueryBackend for PlannedSchema {
    async fn session(&self, session_id: &str) -> ballista_core::error::Result<Arc<SessionContext>> {
        self.0.session(session_id).await
    }

    async fn close_session(&self, session_id: &str) -> ballista_core::error::Result<()> {
        self.0.close_session(session_id).await
    }

    async fn execute(
        &self,
        job_name: &str,
        ctx: Arc<SessionContext>,
        plan: LogicalPlan,
    ) -> ballista_core::error::Result<QueryResult> {
        let mut result = self
            .0
            .execute(job_name, Arc::clone(&ctx), plan.clone())
            .await?;
        let planned = ctx.state().create_physical_plan(&plan).await?.schema();
        result.schema = Arc::new(without_dictionaries(&planned));
        Ok(result)
    }
}

/// `schema` as Arrow Flight's encoder sends it by default: each dictionary as its values.
fn without_dictionaries(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Dictionary(_, values) => field
                .as_ref()
                .clone()
                .with_data_type(values.as_ref().clone()),
            _ => field.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// The Flight SQL service for `scheduler`, as Ballista would mount it (the same sessions,
/// authenticator and message limits; query results stream from the executors through it), with
/// results announced by [`PlannedSchema`].
pub(crate) fn service(
    scheduler: Scheduler,
    config: &SchedulerConfig,
) -> FlightServiceServer<BallistaFlightSqlService<PlannedSchema>> {
    let max_decoding = config.grpc_server_max_decoding_message_size as usize;
    let max_encoding = config.grpc_server_max_encoding_message_size as usize;
    let mut service =
        BallistaFlightSqlService::new(Arc::new(PlannedSchema(scheduler)), flight_proxy(config));
    match config.override_flight_sql_authenticator.clone() {
        Some(authenticator) => service = service.with_authenticator(authenticator),
        None => tracing::warn!(
            "Flight SQL without a token (PVFLOW_API_TOKEN): anyone who reaches it may query"
        ),
    }
    FlightServiceServer::new(service)
        .max_decoding_message_size(max_decoding)
        .max_encoding_message_size(max_encoding)
}

/// The proxy through which results stream from the executors to clients.
pub(crate) fn flight_proxy(config: &SchedulerConfig) -> BallistaFlightProxyService {
    let endpoint = config
        .override_create_grpc_client_endpoint
        .clone()
        .map(|f| Arc::new(BallistaConfigGrpcEndpoint::new(f)));
    BallistaFlightProxyService::new(
        config.grpc_server_max_decoding_message_size as usize,
        config.grpc_server_max_encoding_message_size as usize,
        config.use_tls,
        endpoint,
    )
}

/// Serves Flight SQL for `scheduler` on `listener`'s TLS connections.
pub async fn serve_over_tls(
    listener: TlsListener,
    scheduler: Scheduler,
    config: &SchedulerConfig,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        tonic::service::Routes::new(service(scheduler, config)).into_axum_router(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn basic(user: &str, password: &str) -> MetadataMap {
        let mut headers = MetadataMap::new();
        let value = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        headers.insert("authorization", value.parse().expect("header value"));
        headers
    }

    #[tokio::test]
    async fn the_password_must_be_the_api_token() {
        let api = ApiConfig {
            token: Some("flight-token".into()),
            ..ApiConfig::default()
        };
        let auth = TokenAuthenticator::new(&api).expect("a token is set");
        let identity = auth
            .authenticate(&basic("analyst", "flight-token"))
            .await
            .expect("accepted");
        assert_eq!(identity, Identity::user("analyst"));
        // As ADBC's Go client sends them: base64 without padding.
        let mut unpadded = MetadataMap::new();
        let value = format!(
            "Basic {}",
            STANDARD
                .encode("analyst:flight-token")
                .trim_end_matches('=')
        );
        unpadded.insert("authorization", value.parse().expect("header value"));
        auth.authenticate(&unpadded)
            .await
            .expect("accepted unpadded");
        for refused in [
            basic("analyst", "wrong"),
            basic("analyst", ""),
            MetadataMap::new(),
        ] {
            let status = auth.authenticate(&refused).await.expect_err("refused");
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
        }
        assert!(TokenAuthenticator::new(&ApiConfig::default()).is_none());
    }
}
