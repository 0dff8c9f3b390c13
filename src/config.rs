//! Every setting in one struct: defaults from `config/default.toml` (compiled in),
//! then the file named by `REFUNDS_CONFIG`, then `REFUNDS_*` environment variables.

use serde::Deserialize;

const DEFAULTS: &str = include_str!("../config/default.toml");

/// The development secret shipped in `config/default.toml`.
pub const DEV_JWT_SECRET: &str = "refunds-development-secret";

/// Settings of one service process; see `config/default.toml` for each one.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database_url: String,
    pub bind: String,
    pub public_url: String,
    pub trust_forwarded_headers: bool,
    pub workers: usize,
    pub log_format: String,
    pub log_level: String,
    pub pool_size: u32,
    pub pool_timeout_ms: u64,
    pub pool_check_idle_ms: u64,
    pub sqlite_busy_timeout_ms: u64,
    pub jwt_secret: Secret,
    pub jwt_public_key_path: String,
    pub jwt_leeway_seconds: u64,
    pub jwt_cache_size: usize,
    pub max_body_bytes: usize,
    pub cors_allowed_origins: String,
    pub rate_limit_enabled: bool,
    pub rate_limit_reads_per_minute: u32,
    pub rate_limit_reads_burst: u32,
    pub rate_limit_writes_per_minute: u32,
    pub rate_limit_writes_burst: u32,
    pub request_timeout_ms: u64,
    pub shutdown_timeout_seconds: u64,
    pub page_size_default: u32,
    pub page_size_max: u32,
    pub filter_values_max: usize,
    pub filter_value_max_bytes: usize,
    pub body_read_timeout_ms: u64,
    pub max_connections: usize,
    pub sqlite_cache_kib: u64,
    pub sqlite_checkpoint_ms: u64,
    pub webhook_timeout_ms: u64,
    pub webhook_retry_base_ms: u64,
    pub webhook_retry_cap_ms: u64,
    pub webhook_max_attempts: u32,
    pub webhook_circuit_failure_threshold: u32,
    pub webhook_blocked_hosts: String,
    pub webhook_poll_ms: u64,
    pub default_gateway: String,
    pub gateway_timeout_ms: u64,
    pub stripe_secret_key: Secret,
    pub stripe_api_base: String,
    pub stripe_webhook_secret: Secret,
    pub stripe_webhook_tolerance_seconds: u64,
    pub reconcile_interval_ms: u64,
    pub reconcile_after_ms: u64,
    pub reconcile_batch: u32,
}

/// A setting that must never be printed: `Debug` shows only whether it is set.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "[redacted]"
        })
    }
}

impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl PartialEq<&str> for Secret {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Settings {
    /// Loads the layered configuration of this process.
    pub fn load() -> Result<Self, config::ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Ok(path) = std::env::var("REFUNDS_CONFIG") {
            builder = builder.add_source(config::File::with_name(&path));
        }
        builder
            .add_source(
                config::Environment::with_prefix("REFUNDS")
                    .prefix_separator("_")
                    .try_parsing(true),
            )
            .set_override_option("database_url", std::env::var("DATABASE_URL").ok())?
            .build()?
            .try_deserialize::<Self>()?
            .checked()
    }

    /// Settings whose values the service cannot honour are refused at start.
    fn checked(self) -> Result<Self, config::ConfigError> {
        if self.filter_value_max_bytes > 49_000 {
            return Err(config::ConfigError::Message(
                "filter_value_max_bytes must be at most 49000 (SQLite's LIKE pattern limit)".into(),
            ));
        }
        if !matches!(self.default_gateway.as_str(), "test" | "stripe") {
            return Err(config::ConfigError::Message(
                "default_gateway must be `test` or `stripe`".into(),
            ));
        }
        // A part the request path is still waiting on must not be called again beside it.
        if self.reconcile_after_ms <= self.gateway_timeout_ms {
            return Err(config::ConfigError::Message(
                "reconcile_after_ms must exceed gateway_timeout_ms".into(),
            ));
        }
        Ok(self)
    }

    /// The compiled-in defaults alone, ignoring the environment (tests start here).
    pub fn defaults() -> Self {
        config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("config/default.toml is valid")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_parse() {
        let s = super::Settings::defaults();
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!((s.page_size_default, s.page_size_max), (10, 25));
    }

    #[test]
    fn secrets_are_never_printed() {
        let mut s = super::Settings::defaults();
        s.stripe_secret_key = "sk_live_do_not_print".into();
        s.stripe_webhook_secret = "whsec_do_not_print".into();
        let shown = format!("{s:?}");
        assert!(!shown.contains("do_not_print"), "{shown}");
        assert!(!shown.contains(super::DEV_JWT_SECRET), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
