//! The report's files, checked as files: every figure a valid PNG and a
//! well-formed SVG of the promised size, the page self-contained and
//! listing every experiment, the Markdown table sorted and linking files
//! that exist, and untrusted names escaped everywhere.

mod common;

use std::path::Path;

use ser_report::charts::{self, Figure};
use ser_report::{
    ExperimentChoices, ExperimentResult, FoldChoice, ReportError, ReportInput, write_report,
};

/// Decodes a PNG; returns (width, height, RGB(A) pixels).
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Checks that `svg` is one `<svg>` element whose tags all nest and close:
/// a small tag-stack walk, enough to catch truncated or mis-escaped output
/// without an XML dependency.
fn assert_well_formed_svg(svg: &str) {
    let body = svg.trim();
    assert!(
        body.starts_with("<svg"),
        "SVG starts with {:?}",
        &body[..body.len().min(40)]
    );
    assert!(
        body.ends_with("</svg>"),
        "SVG ends with {:?}",
        &body[body.len().saturating_sub(40)..]
    );
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name.trim()), "mismatched </{name}>");
        } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
            stack.push(tag.split_whitespace().next().expect("tag name"));
        }
        // Text between tags must have its markup characters escaped.
        let text_end = rest[end..].find('<').map_or(rest.len(), |i| i + end);
        assert!(
            !rest[end + 1..text_end].contains('>'),
            "unescaped '>' in text after <{tag}>"
        );
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
}

fn assert_figure(fig: &Figure, must_mention: &[&str]) {
    let (w, h, pixels) = decode_png(&fig.png);
    assert_eq!(
        (w, h),
        (fig.width * 2, fig.height * 2),
        "PNG is twice the logical size"
    );
    // Something was drawn: a blank canvas would be one colour.
    let first = &pixels[..3];
    assert!(
        pixels.chunks(3).any(|p| p != first),
        "PNG is a single colour"
    );
    assert_well_formed_svg(&fig.svg);
    assert!(
        fig.svg.contains(&format!("width=\"{}\"", fig.width)),
        "SVG has the logical width"
    );
    for text in must_mention {
        assert!(fig.svg.contains(text), "SVG mentions {text:?}");
    }
}

#[test]
fn every_figure_is_a_valid_png_and_svg() {
    let sample = common::sample_input();
    let exp = sample
        .experiments
        .iter()
        .find(|e| e.selected_features.is_some())
        .unwrap();
    let classes = &exp.classes;

    let fig = charts::confusion_matrix(&exp.name, classes, &exp.confusion).unwrap();
    // Class names on the axes, and the count of the first cell.
    assert_figure(
        &fig,
        &[
            "surprised",
            "predicted class",
            "true class",
            &exp.confusion[0][0].to_string(),
        ],
    );

    let fig = charts::per_class_scores(&exp.name, classes, &exp.per_class).unwrap();
    assert_figure(&fig, &["angry", "n=96", "precision", "recall", "F1"]);

    let fig = charts::features_kept(&exp.name, exp.selected_features.as_ref().unwrap())
        .unwrap()
        .unwrap();
    assert_figure(&fig, &["top 30 of 645 features", "6/6"]);

    let fig = charts::training_curves("mlp", &common::curves())
        .unwrap()
        .unwrap();
    assert_figure(&fig, &["validation loss", "validation UA", "epoch"]);
}

#[test]
fn figures_without_data_are_left_out() {
    assert_eq!(charts::training_curves("x", &[]).unwrap(), None);
    let never = vec![ser_report::FeatureKept {
        name: "rms_mean".into(),
        kept: 0,
        folds: 6,
    }];
    assert_eq!(charts::features_kept("x", &never).unwrap(), None);
}

#[test]
fn many_classes_with_long_names_still_fit() {
    // 14 classes, some with long names: cells shrink and column labels are
    // shortened, but the figure must still render and stay a sane size.
    let classes: Vec<String> = (0..14)
        .map(|i| {
            if i % 3 == 0 {
                format!("very_long_emotion_name_{i}")
            } else {
                format!("c{i}")
            }
        })
        .collect();
    let confusion: Vec<Vec<usize>> = (0..14)
        .map(|t| (0..14).map(|p| if t == p { 50 } else { t + p }).collect())
        .collect();
    let fig = charts::confusion_matrix("many", &classes, &confusion).unwrap();
    assert_figure(&fig, &["very_long_emotion_name_12", "c13"]);
    assert!(
        fig.width < 1400 && fig.height < 1400,
        "{}x{}",
        fig.width,
        fig.height
    );
}

#[test]
fn report_folder_has_page_readme_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::sample_input();
    let files = write_report(&input, dir.path()).unwrap();

    assert_eq!(files.index_html, dir.path().join("index.html"));
    assert_eq!(files.readme_md, dir.path().join("README.md"));
    // 5 experiments x (confusion + per-class), one feature chart, one set
    // of curves; each as PNG and SVG.
    assert_eq!(files.images.len(), (5 * 2 + 2) * 2);
    for img in &files.images {
        assert!(img.starts_with(dir.path().join("img")), "{}", img.display());
        let bytes = std::fs::read(img).unwrap();
        match img.extension().and_then(|e| e.to_str()) {
            Some("png") => assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", img.display()),
            Some("svg") => assert_well_formed_svg(std::str::from_utf8(&bytes).unwrap()),
            other => panic!("unexpected image type {other:?}"),
        }
    }
    for name in [
        "acoustic-filter25-svm_features.png",
        "logmel-none-mlp_curves.svg",
        "spectral-none-gaussian_nb_confusion.png",
    ] {
        assert!(dir.path().join("img").join(name).is_file(), "{name}");
    }
}

#[test]
fn page_is_self_contained_and_lists_every_experiment() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::sample_input();
    write_report(&input, dir.path()).unwrap();
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();

    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page refers to a URL"
    );
    assert!(
        !html.contains("src=\"img/") && !html.contains("<link"),
        "the page loads a file"
    );
    for exp in &input.experiments {
        assert!(html.contains(&format!(
            "<a href=\"#exp-{}\">{}</a>",
            ser_report::slug(&exp.name),
            exp.name
        )));
        assert!(html.contains(&exp.node_key), "node key of {}", exp.name);
    }
    assert!(html.contains(&input.config_hash));
    // Metrics with their intervals, as the table promises.
    let best = &input.experiments[1];
    assert!(html.contains(&format!(
        "{:.3} <span class=\"ci\">[{:.2}, {:.2}]</span>",
        best.ua,
        best.ua_ci.unwrap().0,
        best.ua_ci.unwrap().1
    )));

    // Rows best first: the order of the row slugs follows UA.
    let rows: Vec<&str> = html
        .match_indices("<tr data-experiment=\"")
        .map(|(i, m)| &html[i + m.len()..])
        .collect();
    let slugs: Vec<&str> = rows.iter().map(|r| &r[..r.find('"').unwrap()]).collect();
    assert_eq!(
        slugs,
        [
            "acoustic-filter25-svm",
            "logmel-none-mlp",
            "acoustic-none-logreg",
            "mfcc-none-random_forest",
            "spectral-none-gaussian_nb"
        ]
    );

    // Each embedded image is the PNG file written next to it.
    let embedded: Vec<&str> = html
        .split("data:image/png;base64,")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(embedded.len(), 12);
    let first = std::fs::read(dir.path().join("img/acoustic-filter25-svm_confusion.png")).unwrap();
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(embedded[0])
            .unwrap(),
        first
    );
}

#[test]
fn readme_table_is_sorted_by_ua_and_links_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::sample_input();
    write_report(&input, dir.path()).unwrap();
    let md = std::fs::read_to_string(dir.path().join("README.md")).unwrap();

    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .collect();
    assert_eq!(rows.len(), 5);
    let uas: Vec<f64> = rows
        .iter()
        .map(|r| r.split(" | ").nth(3).unwrap()[..5].parse().unwrap())
        .collect();
    assert!(uas.windows(2).all(|w| w[0] >= w[1]), "UA column {uas:?}");
    assert!(rows[0].contains("acoustic/filter25/svm"));
    let mut links = 0;
    for (i, _) in md.match_indices("](img/") {
        let target = &md[i + 2..i + 2 + md[i + 2..].find(')').unwrap()];
        assert!(
            dir.path().join(target).is_file(),
            "README links missing {target}"
        );
        links += 1;
    }
    assert_eq!(links, 12);
}

#[test]
fn untrusted_text_is_escaped() {
    let mut evil = common::experiment("acoustic", "none", "logreg", 0.5, 9);
    evil.name = "<script>alert(\"x\")</script> & |pipe|".into();
    evil.protocol = "a'b\"c".into();
    evil.classes[0] = "<b>angry</b>".into();
    let input = ReportInput {
        title: "R&D <report>".into(),
        config_hash: "\"><img src=x>".into(),
        experiments: vec![evil],
        rejects: Vec::new(),
        corpora: None,
        choices: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    write_report(&input, dir.path()).unwrap();

    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(!html.contains("<script>alert"), "script tag injected");
    assert!(!html.contains("<img src=x>") && !html.contains("<b>angry</b>"));
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; |pipe|"));
    assert!(html.contains("<title>R&amp;D &lt;report&gt;</title>"));
    assert!(html.contains("a&#39;b&quot;c"));
    // Exactly the page's own script element.
    assert_eq!(html.matches("<script").count(), 1);

    let md = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(
        md.contains(r#"\<script\>alert("x")\</script\> & \|pipe\|"#),
        "{md}"
    );

    // Class names in the SVG go through plotters' XML escaping.
    let svg = std::fs::read_to_string(
        dir.path()
            .join("img/script-alert-x-script-pipe_confusion.svg"),
    )
    .unwrap();
    assert!(svg.contains("&lt;b&gt;angry&lt;/b&gt;") && !svg.contains("<b>"));
    assert_well_formed_svg(&svg);
}

#[test]
fn malformed_results_are_rejected_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = common::experiment("mfcc", "none", "knn", 0.5, 1);
    bad.confusion.pop();
    let input = ReportInput {
        title: "t".into(),
        config_hash: "h".into(),
        experiments: vec![bad],
        rejects: Vec::new(),
        corpora: None,
        choices: Vec::new(),
    };
    match write_report(&input, dir.path()) {
        Err(ReportError::InvalidInput { experiment, reason }) => {
            assert_eq!(experiment, "mfcc/none/knn");
            assert!(reason.contains("7 rows for 8 classes"), "{reason}");
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    let mut bad = common::experiment("mfcc", "none", "knn", 0.5, 1);
    bad.per_class.truncate(3);
    let input = ReportInput {
        title: "t".into(),
        config_hash: "h".into(),
        experiments: vec![bad],
        rejects: Vec::new(),
        corpora: None,
        choices: Vec::new(),
    };
    assert!(matches!(
        write_report(&input, dir.path()),
        Err(ReportError::InvalidInput { .. })
    ));
}

#[test]
fn results_without_details_give_a_table_only_report() {
    // An experiment evaluated without confusion or per-class data (and a
    // NaN metric) still appears in both documents, with no figures.
    let bare = ExperimentResult {
        confusion: vec![],
        per_class: vec![],
        macro_f1: f64::NAN,
        ..common::experiment("spectral", "none", "knn", 0.4, 2)
    };
    let dir = tempfile::tempdir().unwrap();
    let files = write_report(
        &ReportInput {
            title: "t".into(),
            config_hash: "h".into(),
            experiments: vec![bare],
            rejects: Vec::new(),
            corpora: None,
            choices: Vec::new(),
        },
        dir.path(),
    )
    .unwrap();
    assert!(files.images.is_empty());
    let html = std::fs::read_to_string(&files.index_html).unwrap();
    assert!(html.contains("spectral/none/knn") && html.contains("n/a"));
    let md = std::fs::read_to_string(&files.readme_md).unwrap();
    assert!(md.contains("| 1 | spectral/none/knn |"), "{md}");
}

#[test]
fn empty_report_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/report");
    let files = write_report(
        &ReportInput {
            title: "t".into(),
            config_hash: "h".into(),
            experiments: vec![],
            rejects: Vec::new(),
            corpora: None,
            choices: Vec::new(),
        },
        &out,
    )
    .unwrap();
    assert!(Path::new(&files.index_html).is_file());
    assert!(
        std::fs::read_to_string(&files.index_html)
            .unwrap()
            .contains("No experiments were evaluated.")
    );
    assert!(
        std::fs::read_to_string(&files.readme_md)
            .unwrap()
            .contains("No experiments were evaluated.")
    );
}

#[test]
fn transductive_results_and_the_interval_unit_are_marked() {
    let transductive = ExperimentResult {
        transductive: true,
        ..common::experiment("egemaps", "none", "svm_speaker", 0.6, 3)
    };
    let inductive = common::experiment("egemaps", "none", "svm", 0.5, 4);
    let dir = tempfile::tempdir().unwrap();
    let files = write_report(
        &ReportInput {
            title: "t".into(),
            config_hash: "h".into(),
            experiments: vec![transductive, inductive],
            rejects: Vec::new(),
            corpora: None,
            choices: Vec::new(),
        },
        dir.path(),
    )
    .unwrap();
    let html = std::fs::read_to_string(&files.index_html).unwrap();
    let md = std::fs::read_to_string(&files.readme_md).unwrap();
    assert!(
        html.contains("egemaps/none/svm_speaker</a> <abbr class=\"transductive\""),
        "{html}"
    );
    assert!(!html.contains("egemaps/none/svm</a> <abbr"), "{html}");
    assert!(md.contains(r"| egemaps/none/svm\_speaker (T) |"), "{md}");
    assert!(md.contains("| egemaps/none/svm |"), "{md}");
    for doc in [&html, &md] {
        assert!(doc.contains("(T) transductive"), "{doc}");
        assert!(doc.contains("bootstrap over test speakers"), "{doc}");
    }
}

/// What experiments chose inside their training folds is one table in both
/// documents, one row per fold, its text escaped.
#[test]
fn choices_are_listed_per_fold() {
    let mut input = common::sample_input();
    input.choices = vec![ExperimentChoices {
        experiment: "egemaps/none/cnn1d_val".into(),
        protocol: "emobox_6fold".into(),
        chosen_by: "grid point with the best validation UA".into(),
        folds: vec![
            FoldChoice {
                fold: "fold1".into(),
                chosen: "epochs=20 normalize=speaker".into(),
                validation_ua: vec![0.5734],
                validation_rows: None,
            },
            FoldChoice {
                fold: "fold2".into(),
                chosen: "<x>|y".into(),
                validation_ua: vec![0.6, 0.5],
                validation_rows: None,
            },
            // A `choose` mean says how many rows chose it.
            FoldChoice {
                fold: "fold3".into(),
                chosen: "a, b".into(),
                validation_ua: vec![0.7171],
                validation_rows: Some((659, 11)),
            },
        ],
    }];
    let dir = tempfile::tempdir().unwrap();
    write_report(&input, dir.path()).unwrap();
    let markdown = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(markdown.contains("## Chosen inside the training folds"));
    assert!(markdown.contains(
        "| egemaps/none/cnn1d\\_val | emobox\\_6fold | grid point with the best validation UA | fold1 | epochs=20 normalize=speaker | 0.573 |"
    ), "{markdown}");
    assert!(
        markdown.contains("| fold2 | \\<x\\>\\|y | 0.600, 0.500 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| fold3 | a, b | 0.717 (659 utterances, 11 speakers) |"),
        "{markdown}"
    );
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("<section id=\"choices\">"));
    assert!(html.contains("<td>0.717 (659 utterances, 11 speakers)</td>"));
    assert!(html.contains("<td><code>epochs=20 normalize=speaker</code></td><td>0.573</td>"));
    assert!(html.contains("&lt;x&gt;|y") && !html.contains("<x>|y"));
    // A report without choices has no such section.
    input.choices.clear();
    write_report(&input, dir.path()).unwrap();
    let markdown = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(!markdown.contains("Chosen inside"));
}
