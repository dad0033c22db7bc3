//! Who may use the scheduler's Arrow Flight SQL endpoint (`--flight-sql`): analysts' SQL
//! clients (ADBC, JDBC, DBeaver, Superset) authenticate with the run API's token as their
//! password, as the Flight SQL convention's HTTP Basic credentials.

use async_trait::async_trait;
use ballista_flight_sql::{Authenticator, Identity};
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use pvflow_session::ApiConfig;
use tonic::Status;
use tonic::metadata::MetadataMap;

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
