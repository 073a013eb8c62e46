fn main() {
    std::process::exit(ser::cli::main());
}
