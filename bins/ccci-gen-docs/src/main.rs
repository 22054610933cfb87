fn main() -> std::process::ExitCode {
    ccci_core::cli::main(ccci_gen_docs::run)
}
