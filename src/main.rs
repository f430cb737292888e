//! The `gtt-gateway` binary; the command line lives in [`gtt_gateway::cli`].

fn main() -> std::process::ExitCode {
    gtt_gateway::cli::main()
}
