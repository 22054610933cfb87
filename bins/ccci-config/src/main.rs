fn main() -> std::process::ExitCode {
    ccci_core::cli::main(ccci_config::run)
}
