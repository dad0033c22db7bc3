fn main() -> anyhow::Result<()> {
    let args = pvflow_executor::Args::from_env_and_flags();
    pvflow_session::logging::init(&args.ballista.log_level_setting);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(pvflow_executor::run(args))
}
