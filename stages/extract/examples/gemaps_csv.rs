//! Writes eGeMAPS LLDs and functionals of WAV files as CSV, for comparing
//! with openSMILE outside the test suite:
//! `cargo run --release -p ser-extract --example gemaps_csv -- OUT_DIR a.wav b.wav ...`
//! writes `OUT_DIR/<stem>.lld.csv` and `OUT_DIR/functionals.csv`.

use std::fmt::Write as _;
use std::path::Path;

use ser_extract::gemaps::{Gemaps, GemapsSet};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = Path::new(&args[0]);
    let analyser = Gemaps::new();
    let set = GemapsSet::Egemaps;
    let mut funcs = format!("file,{}\n", Gemaps::functional_names(set).join(","));
    for path in &args[1..] {
        let bytes = std::fs::read(path).expect("readable file");
        let audio = ser_ingest::decode::decode_bytes(&bytes).expect("decodable audio");
        let signal = audio.into_mono();
        let raw = analyser.raw(&signal);
        let stem = Path::new(path)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let mut lld = format!("{}\n", Gemaps::lld_names(set).join(","));
        for row in analyser.lld(set, &raw) {
            let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            writeln!(lld, "{}", cells.join(",")).unwrap();
        }
        std::fs::write(out.join(format!("{stem}.lld.csv")), lld).unwrap();
        let cells: Vec<String> = analyser
            .functionals(set, &raw)
            .iter()
            .map(|v| v.to_string())
            .collect();
        writeln!(funcs, "{stem},{}", cells.join(",")).unwrap();
    }
    std::fs::write(out.join("functionals.csv"), funcs).unwrap();
}
