//! Per-client-address limits on registration and login, counted in the
//! state store so that every worker and instance counts the same address
//! together (429 `too_many_requests` beyond them).

use crate::domain::Millis;
use crate::error::ApiError;
use crate::store::StateStore;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::HeaderName;
use clap::Args;
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The limits count per fixed minute.
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Args, Serialize)]
pub struct AddressLimits {
    /// The request header that carries the client's address, set by a
    /// trusted reverse proxy (`X-Real-IP`, or `X-Forwarded-For`, whose last
    /// entry is taken); by default the address of the connection. Only set
    /// it behind a proxy that always writes it: clients can send it too.
    #[arg(long, env = "MRPT_CLIENT_ADDRESS_HEADER", value_parser = parse_header_name)]
    #[serde(serialize_with = "header_name")]
    pub client_address_header: Option<HeaderName>,

    /// Logins one client address may attempt per minute; beyond them, 429
    /// too_many_requests. A room of 30 behind one address fits many times.
    #[arg(long, env = "MRPT_LOGINS_PER_ADDRESS", default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    pub logins_per_address: u32,

    /// Registrations one client address may attempt per minute; beyond
    /// them, 429 too_many_requests.
    #[arg(long, env = "MRPT_REGISTRATIONS_PER_ADDRESS", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    pub registrations_per_address: u32,
}

fn parse_header_name(raw: &str) -> Result<HeaderName, String> {
    HeaderName::try_from(raw.trim()).map_err(|err| err.to_string())
}

fn header_name<S: serde::Serializer>(name: &Option<HeaderName>, serializer: S) -> Result<S::Ok, S::Error> {
    match name {
        Some(name) => serializer.serialize_str(name.as_str()),
        None => serializer.serialize_none(),
    }
}

/// What a client address is counted for.
#[derive(Debug, Clone, Copy)]
pub enum AddressAction {
    Login,
    Registration,
}

impl AddressAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Registration => "registration",
        }
    }
}

impl AddressLimits {
    /// Counts one `action` of the request's client address: 429
    /// `too_many_requests`, with the seconds until the minute ends, when
    /// the address is over its limit.
    pub async fn check(&self, store: &dyn StateStore, action: AddressAction, parts: &Parts) -> Result<(), ApiError> {
        let limit = match action {
            AddressAction::Login => self.logins_per_address,
            AddressAction::Registration => self.registrations_per_address,
        };
        let address = self.client_address(parts).map_or_else(|| "unknown".to_owned(), |address| address.to_string());
        let now = Millis::now();
        let window = WINDOW.as_millis() as i64;
        let until = Millis((now.0.div_euclid(window) + 1) * window);
        let count = store.increment_counter(&format!("{}:{address}", action.as_str()), now, until).await?;
        if count > u64::from(limit) {
            metrics::counter!("mrpt_address_limited_total", "action" => action.as_str()).increment(1);
            let retry_after_secs = ((until.0 - now.0).max(1) as u64).div_ceil(1000);
            return Err(ApiError::TooManyRequests { retry_after_secs });
        }
        Ok(())
    }

    /// The address the configured header names, else the connection's peer.
    fn client_address(&self, parts: &Parts) -> Option<IpAddr> {
        let from_header = self.client_address_header.as_ref().and_then(|name| {
            let value = parts.headers.get(name)?.to_str().ok()?;
            value.rsplit(',').next()?.trim().parse().ok()
        });
        from_header.or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()))
    }
}
