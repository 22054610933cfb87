fn main() -> std::process::ExitCode {
    ccci_core::cli::main(ccci_verify_backup::run)
}
