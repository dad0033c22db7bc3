//! Every flag of a server binary settable from the environment, as Kubernetes manifests and
//! ConfigMaps expect: `--bind-port` of `pvflow-scheduler` is also `PVFLOW_SCHEDULER_BIND_PORT`.

use clap::Command;

/// `command` with each flag (except help, version and `--config`, which has `PVFLOW_CONFIG`)
/// also read from `<prefix><FLAG_NAME>`; a flag on the command line wins over the variable.
pub fn from_env(command: Command, prefix: &str) -> Command {
    command.mut_args(|arg| {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version" | "config") || arg.is_positional() {
            return arg;
        }
        let name = format!("{prefix}{}", id.to_ascii_uppercase().replace('-', "_"));
        // Once per flag at start-up: clap takes 'static names unless built with `string`.
        let name: &'static str = Box::leak(name.into_boxed_str());
        arg.env(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn command() -> Command {
        Command::new("t")
            .arg(Arg::new("bind_port").long("bind-port").default_value("1"))
            .arg(Arg::new("config").long("config"))
            .arg(
                Arg::new("verbose")
                    .long("verbose")
                    .action(ArgAction::SetTrue),
            )
    }

    #[test]
    fn flags_read_their_variables_and_the_command_line_wins() {
        let cmd = from_env(command(), "PVFLOW_T_");
        let names: Vec<_> = cmd
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(names, ["PVFLOW_T_BIND_PORT", "PVFLOW_T_VERBOSE"]);
        let m = cmd
            .try_get_matches_from(["t", "--bind-port", "7"])
            .expect("parses");
        assert_eq!(
            m.get_one::<String>("bind_port").map(String::as_str),
            Some("7")
        );
    }
}
