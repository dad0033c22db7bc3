use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let args = pvflow_scheduler::Args::from_env_and_flags();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(&args.ballista.log_level_setting));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(pvflow_scheduler::run(args))
}
