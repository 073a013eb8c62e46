//! Writes a report of realistic made-up RAVDESS results, to look at the
//! figures and the page while working on them:
//!
//! ```sh
//! cargo run --release -p ser-report --example sample_report -- /tmp/ser-report-sample
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/ser-report-sample".to_string());
    match ser_report::write_report(&common::sample_input(), std::path::Path::new(&out)) {
        Ok(files) => {
            println!("{}", files.index_html.display());
            println!("{}", files.readme_md.display());
            for f in files.images {
                println!("{}", f.display());
            }
        }
        Err(e) => {
            eprintln!("sample_report: {e}");
            std::process::exit(1);
        }
    }
}
