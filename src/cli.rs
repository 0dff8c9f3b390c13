//! Command line: `serve` (default), `migrate`, `reconcile`, `seed` and `token`.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::auth::{self, Application, Claims, Organization, Owner};
use crate::config::{Settings, DEV_JWT_SECRET};
use crate::http::AppState;
use crate::{ids, seed};

#[derive(Debug, Parser)]
#[command(name = "refunds", version, about = "A JSON:API refunds service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations and serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Run one reconciliation pass: settle refund parts pending past
    /// `reconcile_after_ms`, and print what was settled.
    Reconcile,
    /// Insert deterministic demo data for one organization.
    Seed {
        #[arg(long)]
        organization: String,
        #[arg(long, value_enum, default_value_t = Mode::Test)]
        mode: Mode,
        #[arg(long, default_value_t = 50)]
        orders: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Print a signed token that sees what `seed` made for the organization and mode.
    Token {
        #[arg(long)]
        organization: String,
        #[arg(long, value_enum, default_value_t = Kind::Integration)]
        kind: Kind,
        #[arg(long, value_enum, default_value_t = Mode::Test)]
        mode: Mode,
        /// Customer id a sales channel token acts for.
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, value_enum, default_value_t = Role::Admin)]
        role: Role,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 14_400)]
        ttl: i64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Mode {
    Test,
    Live,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Integration,
    #[value(name = "sales_channel")]
    SalesChannel,
    Webapp,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Role {
    Admin,
    #[value(name = "read_only")]
    ReadOnly,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    crate::telemetry::init(&settings);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => crate::server::serve(settings),
        Command::Migrate => AppState::new(settings)
            .and_then(|s| s.migrate())
            .map(|n| println!("applied {n} migration(s)")),
        Command::Reconcile => AppState::new(settings).and_then(|state| {
            state.migrate()?;
            let cfg = crate::ledger::reconcile::Config::from_settings(&state.settings);
            let done = crate::ledger::reconcile::run_once(&state.pool, &state.gateways, &cfg)
                .map_err(|e| e.to_string())?;
            for (part, status) in &done {
                println!("refund_capture {part}: {status}");
            }
            println!("reconciled {} part(s)", done.len());
            Ok(())
        }),
        Command::Seed {
            organization,
            mode,
            orders,
            seed: s,
        } => AppState::new(settings).and_then(|state| {
            state.migrate()?;
            let mut conn = state.pool.get().map_err(|e| e.to_string())?;
            let live = matches!(mode, Mode::Live);
            let made = seed::seed(&mut conn, &organization, live, orders, s)?;
            println!("{made}");
            Ok(())
        }),
        Command::Token {
            organization,
            kind,
            mode,
            owner,
            role,
            ttl,
        } => {
            let now = chrono::Utc::now().timestamp();
            let claims = Claims {
                organization: Organization {
                    id: ids::organization_id(&organization),
                    slug: organization.clone(),
                },
                application: Application {
                    id: ids::organization_id(&format!("{organization}/app")),
                    kind: match kind {
                        Kind::Integration => "integration",
                        Kind::SalesChannel => "sales_channel",
                        Kind::Webapp => "webapp",
                    }
                    .into(),
                },
                scope: "market:all".into(),
                test: matches!(mode, Mode::Test),
                owner: owner.map(|id| Owner {
                    id,
                    kind: "Customer".into(),
                }),
                role: Some(match role {
                    Role::Admin => "admin".into(),
                    Role::ReadOnly => "read_only".into(),
                }),
                exp: now + ttl,
                iat: now,
                iss: Some("refunds".into()),
            };
            if settings.jwt_secret == DEV_JWT_SECRET {
                eprintln!("warning: signing with the development secret");
            }
            auth::sign(&claims, &settings.jwt_secret).map(|t| println!("{t}"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
